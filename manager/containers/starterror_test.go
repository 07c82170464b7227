package containers

import (
	"errors"
	"testing"

	"github.com/xrt-dev/xrt/shim/client"
)

func TestStartError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
		code int
	}{
		{"command missing, xrt's words", &client.ShimError{Msg: "start container c1: xrt create: executable file not found in $PATH: nosuch"},
			`OCI runtime create failed: exec: "nosuch": executable file not found in $PATH: unknown`, 127},
		{"absolute command missing", &client.ShimError{Msg: "start container c1: xrt create: stat /chit-chat: no such file or directory"},
			`OCI runtime create failed: exec: "/chit-chat": stat /chit-chat: no such file or directory: unknown`, 127},
		{"not executable", &client.ShimError{Msg: "start container c1: xrt create: exec /etc/passwd: permission denied"},
			`OCI runtime create failed: exec: "/etc/passwd": permission denied: unknown`, 126},
		// The shim itself missing is not the container's command missing.
		{"no shim", errors.New(`xrt-shim: exec: "xrt-shim": executable file not found in $PATH`),
			`failed to create shim: xrt-shim: exec: "xrt-shim": executable file not found in $PATH`, 127},
		{"other runtime error", &client.ShimError{Msg: "start container c1: xrt create: cgroup: no space left on device"},
			`OCI runtime create failed: c1: xrt create: cgroup: no space left on device: unknown`, 0},
	} {
		path := map[string]string{"not executable": "/etc/passwd", "absolute command missing": "/chit-chat"}[tc.name]
		if path == "" {
			path = "nosuch"
		}
		got := startError(path, tc.err)
		if got.Error() != tc.want {
			t.Errorf("%s: %q\nwant %q", tc.name, got, tc.want)
		}
		if code := startExitCode(got.Error()); tc.code != 0 && code != tc.code {
			t.Errorf("%s: exit code %d, want %d", tc.name, code, tc.code)
		}
	}
}
