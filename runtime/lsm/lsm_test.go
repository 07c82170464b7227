package lsm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"
)

func TestAppArmorEnabledParam(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content *string
		want    bool
	}{
		{"Y", ptr("Y\n"), true},
		{"N", ptr("N\n"), false},
		{"empty", ptr(""), false},
		{"missing file", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if tt.content != nil {
				if err := os.WriteFile(p, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := appArmorEnabled(p); got != tt.want {
				t.Fatalf("appArmorEnabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestSetAppArmorExecPaths(t *testing.T) {
	tests := []struct {
		name      string
		files     []string // attribute files that exist under the fake proc dir
		wantWrite string   // which one must receive the command
		wantErr   bool
	}{
		{"stacked LSM interface", []string{"attr/apparmor/exec", "attr/exec"}, "attr/apparmor/exec", false},
		{"old kernel fallback", []string{"attr/exec"}, "attr/exec", false},
		{"no attributes at all", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(proc, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := setAppArmorExec(proc, "acme_secure_profile")
			if tt.wantErr {
				if !errors.Is(err, unix.ENOENT) {
					t.Fatalf("setAppArmorExec() error = %v, want ENOENT", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				b, err := os.ReadFile(filepath.Join(proc, f))
				if err != nil {
					t.Fatal(err)
				}
				want := ""
				if f == tt.wantWrite {
					want = "exec acme_secure_profile"
				}
				if string(b) != want {
					t.Errorf("%s = %q, want %q", f, b, want)
				}
			}
		})
	}
}

// The host decides the outcome, so the expectations follow what it runs.
func TestCheckAndSetOnThisHost(t *testing.T) {
	tests := []struct {
		name    string
		p       *rspec.Process
		enabled bool
		wantErr string
	}{
		{"nothing asked", &rspec.Process{}, true, ""},
		{"nil process", nil, true, ""},
		{
			"apparmor profile", &rspec.Process{ApparmorProfile: "acme_secure_profile"}, AppArmorEnabled(),
			`process.apparmorProfile: apparmor profile "acme_secure_profile" requested but AppArmor is not enabled on this host`,
		},
		{
			"selinux label", &rspec.Process{SelinuxLabel: "system_u:system_r:svirt_lxc_net_t:s0:c124,c675"}, selinux.GetEnabled(),
			`process.selinuxLabel: selinux label "system_u:system_r:svirt_lxc_net_t:s0:c124,c675" requested but SELinux is not enabled on this host`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.enabled && tt.wantErr != "" {
				t.Skip("the LSM is enabled here; whether the label applies depends on loaded policy")
			}
			for fn, f := range map[string]func(*rspec.Process) error{"Check": Check, "SetExecLabels": SetExecLabels} {
				err := f(tt.p)
				if tt.wantErr == "" {
					if err != nil {
						t.Errorf("%s() = %v", fn, err)
					}
					continue
				}
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("%s() error = %v, want %q", fn, err, tt.wantErr)
				}
			}
		})
	}
}
