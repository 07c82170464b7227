package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// NewNetNS creates the network namespace <ExecRoot>/netns/<id>: a new
// namespace bind-mounted on that file, with lo already up (done here rather
// than by CNI's loopback plugin: one plugin run less per container). It is
// idempotent: an existing namespace there is returned as it is.
func (m *Manager) NewNetNS(id string) (string, error) {
	if !containerIDPattern.MatchString(id) {
		return "", errdefs.Invalid("invalid network namespace name %q", id)
	}
	path := filepath.Join(m.paths.netns, id)
	if isNetNS(path) {
		return path, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return "", fmt.Errorf("creating netns file: %w", err)
	}
	f.Close()
	if err := inNewThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting the namespace on %s: %w", path, err)
		}
		return loopbackUp()
	}); err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return "", fmt.Errorf("creating network namespace %s: %w", path, err)
	}
	return path, nil
}

// RemoveNetNS unmounts and removes a namespace file made by NewNetNS; one
// that is absent is fine. The namespace itself goes when nothing else
// (a container process) holds it.
func (m *Manager) RemoveNetNS(path string) error {
	if path == "" {
		return nil
	}
	if filepath.Dir(filepath.Clean(path)) != filepath.Clean(m.paths.netns) {
		return errdefs.Invalid("%s is not a network namespace of this manager (not in %s)", path, m.paths.netns)
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing network namespace %s: %w", path, err)
	}
	return nil
}

// Loopback brings lo up in a network namespace: all a container on the
// "none" network gets.
func (m *Manager) Loopback(ctx context.Context, netnsPath string) error {
	return Loopback(ctx, netnsPath)
}

// Loopback is Manager.Loopback without a manager.
func Loopback(ctx context.Context, netnsPath string) error {
	ns, err := os.Open(netnsPath)
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer ns.Close()
	err = inNewThread(func() error {
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering %s: %w", netnsPath, err)
		}
		return loopbackUp()
	})
	if err != nil {
		return fmt.Errorf("bringing lo up in %s: %w", netnsPath, err)
	}
	return nil
}

// inNewThread runs fn on an OS thread of its own that is thrown away
// afterwards (the goroutine ends still locked to it), so that a thread moved
// into another namespace never runs other goroutines.
func inNewThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- fn()
	}()
	return <-done
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("setting lo up: %w", err)
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// enableIPForward turns on IPv4 forwarding, which a bridge network needs to
// route anything off its subnet.
func enableIPForward() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IPv4 forwarding (net.ipv4.ip_forward=1): %w", err)
	}
	return nil
}

// ensureSbinInPath lets the plugins (which find iptables through PATH) and
// this package run iptables and ip even when the daemon was started with a
// PATH without the sbin directories.
func ensureSbinInPath() {
	path := os.Getenv("PATH")
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if !strings.Contains(":"+path+":", ":"+dir+":") {
			path += ":" + dir
		}
	}
	os.Setenv("PATH", strings.TrimPrefix(path, ":"))
}
