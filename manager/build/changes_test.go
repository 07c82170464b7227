package build

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		name    string
		start   ocispec.ImageConfig
		changes []string
		want    ocispec.ImageConfig
	}{
		{"cmd exec form", ocispec.ImageConfig{}, []string{`CMD ["/bin/sh", "-c", "echo hi"]`},
			ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", "echo hi"}}},
		{"cmd shell form", ocispec.ImageConfig{}, []string{`CMD echo "hello world"`},
			ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", `echo "hello world"`}}},
		{"cmd bad json is shell form", ocispec.ImageConfig{}, []string{`CMD [not json`},
			ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", "[not json"}}},
		{"lower-case keyword", ocispec.ImageConfig{}, []string{`entrypoint ["/init"]`},
			ocispec.ImageConfig{Entrypoint: []string{"/init"}}},
		{"empty exec form", ocispec.ImageConfig{Cmd: []string{"x"}}, []string{`CMD []`},
			ocispec.ImageConfig{Cmd: []string{}}},
		{"env pairs with quotes", ocispec.ImageConfig{}, []string{`ENV A=1 B="two words" C='$lit'`},
			ocispec.ImageConfig{Env: []string{"A=1", "B=two words", "C=$lit"}}},
		{"env legacy form", ocispec.ImageConfig{}, []string{`ENV GREETING hello  world`},
			ocispec.ImageConfig{Env: []string{"GREETING=hello  world"}}},
		{"env replaces and expands", ocispec.ImageConfig{Env: []string{"PATH=/bin"}}, []string{`ENV PATH=/usr/local/bin:$PATH`, `ENV X=${PATH}:${NOPE:-dflt}${PATH:+!}`},
			ocispec.ImageConfig{Env: []string{"PATH=/usr/local/bin:/bin", "X=/usr/local/bin:/bin:dflt!"}}},
		{"env escaped dollar", ocispec.ImageConfig{}, []string{`ENV A=\$HOME`},
			ocispec.ImageConfig{Env: []string{"A=$HOME"}}},
		{"label", ocispec.ImageConfig{}, []string{`LABEL a=b "com.x.y"="z w"`},
			ocispec.ImageConfig{Labels: map[string]string{"a": "b", "com.x.y": "z w"}}},
		{"expose", ocispec.ImageConfig{}, []string{`EXPOSE 80 53/udp 8000-8002/TCP`},
			ocispec.ImageConfig{ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}}},
		{"user", ocispec.ImageConfig{}, []string{`USER nobody:nogroup`},
			ocispec.ImageConfig{User: "nobody:nogroup"}},
		{"workdir relative", ocispec.ImageConfig{}, []string{`WORKDIR /srv`, `WORKDIR app/../www`},
			ocispec.ImageConfig{WorkingDir: "/srv/www"}},
		{"workdir from env", ocispec.ImageConfig{Env: []string{"D=/data"}}, []string{`WORKDIR $D/x`},
			ocispec.ImageConfig{Env: []string{"D=/data"}, WorkingDir: "/data/x"}},
		{"volume json", ocispec.ImageConfig{}, []string{`VOLUME ["/a", "/b c"]`},
			ocispec.ImageConfig{Volumes: map[string]struct{}{"/a": {}, "/b c": {}}}},
		{"volume words", ocispec.ImageConfig{}, []string{`VOLUME /a /b`},
			ocispec.ImageConfig{Volumes: map[string]struct{}{"/a": {}, "/b": {}}}},
		{"stopsignal", ocispec.ImageConfig{}, []string{`STOPSIGNAL SIGINT`},
			ocispec.ImageConfig{StopSignal: "SIGINT"}},
		{"stopsignal number", ocispec.ImageConfig{}, []string{`STOPSIGNAL 9`},
			ocispec.ImageConfig{StopSignal: "9"}},
		{"stopsignal short name", ocispec.ImageConfig{}, []string{`STOPSIGNAL quit`},
			ocispec.ImageConfig{StopSignal: "quit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dockerspec.DockerOCIImageConfig{ImageConfig: tt.start}
			if err := ApplyChanges(&got, tt.changes); err != nil {
				t.Fatalf("ApplyChanges(%q): %v", tt.changes, err)
			}
			if !reflect.DeepEqual(got.ImageConfig, tt.want) {
				t.Errorf("ApplyChanges(%q)\n got %+v\nwant %+v", tt.changes, got.ImageConfig, tt.want)
			}
		})
	}
}

func TestApplyChangesRefuses(t *testing.T) {
	tests := []struct {
		change, want string
	}{
		{`RUN make`, "RUN is not a valid change command"},
		{`FROM busybox`, "FROM is not a valid change command"},
		{``, "empty instruction"},
		{`ENV`, "requires at least one argument"},
		{`ENV A`, "ENV must have two arguments"},
		{`ENV =x`, "ENV names can not be blank"},
		{`LABEL a=b c`, `Must be of the form: name=value`},
		{`EXPOSE`, "at least one"},
		{`EXPOSE http`, "Invalid containerPort"},
		{`EXPOSE 80/icmp`, "invalid proto"},
		{`EXPOSE 90-80`, "invalid range"},
		{`EXPOSE 70000`, "Invalid containerPort"},
		{`WORKDIR`, "exactly one argument"},
		{`VOLUME [""]`, "empty string"},
		{`STOPSIGNAL SIGNOPE`, "Invalid signal: SIGNOPE"},
		{`STOPSIGNAL 0`, "Invalid signal: 0"},
		{`ENV A="unterminated`, "double-quote"},
		{`ENV A='unterminated`, "single-quote"},
		{`ENV A=${B`, "failed to process"},
	}
	for _, tt := range tests {
		t.Run(tt.change, func(t *testing.T) {
			var cfg dockerspec.DockerOCIImageConfig
			err := ApplyChanges(&cfg, []string{tt.change})
			if err == nil {
				t.Fatalf("ApplyChanges(%q) = nil, want an error with %q", tt.change, tt.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("ApplyChanges(%q): %v is not an invalid-argument error", tt.change, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), strconv.Quote(tt.change)) {
				t.Errorf("ApplyChanges(%q) = %q, want it to name the change and say %q", tt.change, err, tt.want)
			}
		})
	}
}
