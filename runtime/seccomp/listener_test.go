package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

const (
	listenerEnv = "XRT_SECCOMP_TEST_LISTENER"
	notifyVal   = 4242
)

func init() {
	children["notify"] = func() error { return notifyChild(nil) }
	children["notify tsync"] = func() error { return notifyChild([]rspec.LinuxSeccompFlag{flagTsync}) }
}

// notifyChild notifies getpgid, hands the fd to the test's agent and expects
// the agent's answer as getpgid's result.
func notifyChild(flags []rspec.LinuxSeccompFlag) error {
	fd, err := load(&rspec.LinuxSeccomp{
		DefaultAction: rspec.ActAllow,
		Flags:         flags,
		Syscalls:      []rspec.LinuxSyscall{{Names: []string{"getpgid"}, Action: rspec.ActNotify}},
	})
	if err != nil {
		return err
	}
	if fd < 0 {
		return fmt.Errorf("Load returned no listener fd (%d)", fd)
	}
	st := rspec.ContainerProcessState{
		Pid:      os.Getpid(),
		Metadata: "agent-metadata",
		State:    rspec.State{Version: rspec.Version, ID: "ctr", Status: rspec.StateCreating, Pid: os.Getpid(), Bundle: "/bundle"},
	}
	if err := SendListener(os.Getenv(listenerEnv), fd, st); err != nil {
		return err
	}
	unix.Close(fd)
	r, _, e := unix.RawSyscall(unix.SYS_GETPGID, noPid, 0, 0)
	if e != 0 || r != notifyVal {
		return fmt.Errorf("getpgid under notify = %d, errno %v; want %d from the agent", r, e, notifyVal)
	}
	return nil
}

func TestNotify(t *testing.T) {
	for _, name := range []string{"notify", "notify tsync"} {
		t.Run(name, func(t *testing.T) { testNotify(t, name) })
	}
}

func testNotify(t *testing.T, name string) {
	if maj, min, _ := libseccomp.GetLibraryVersion(); maj < 2 || maj == 2 && min < 5 {
		t.Skipf("SCMP_ACT_NOTIFY needs libseccomp 2.5, this is %d.%d", maj, min)
	}
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	cmd := childCmd(name, listenerEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fail := func(format string, args ...any) {
		t.Helper()
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s; child stderr: %s", fmt.Sprintf(format, args...), bytes.TrimSpace(stderr.Bytes()))
	}

	l.SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := l.AcceptUnix()
	if err != nil {
		fail("accept: %v", err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		fail("reading the agent message: %v", err)
	}
	fd, err := rightsFd(oob[:oobn])
	if err != nil {
		fail("%v", err)
	}
	defer unix.Close(fd)

	var st rspec.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		fail("payload %q: %v", buf[:n], err)
	}
	pid := cmd.Process.Pid
	if st.Version != rspec.Version || !slices.Equal(st.Fds, []string{rspec.SeccompFdName}) || st.Pid != pid ||
		st.Metadata != "agent-metadata" || st.State.ID != "ctr" || st.State.Bundle != "/bundle" {
		fail("state %+v, want version %s, fds [seccompFd], pid %d, metadata, state", st, rspec.Version, pid)
	}

	// Answer the child's getpgid. Poll first so that a child that died
	// before the call fails the test instead of hanging it.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 10000); err != nil || n != 1 || pfd[0].Revents&unix.POLLIN == 0 {
		fail("waiting for a notification: %d, %v, revents %#x", n, err, pfd[0].Revents)
	}
	req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(fd))
	if err != nil {
		fail("NotifReceive: %v", err)
	}
	sc, _ := req.Data.Syscall.GetName()
	if sc != "getpgid" || req.Data.Args[0] != noPid || int(req.Pid) != pid {
		fail("notification %s(%#x) from pid %d, want getpgid(%#x) from %d", sc, req.Data.Args[0], req.Pid, noPid, pid)
	}
	if err := libseccomp.NotifRespond(libseccomp.ScmpFd(fd), &libseccomp.ScmpNotifResp{ID: req.ID, Val: notifyVal}); err != nil {
		fail("NotifRespond: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("child: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
}

// rightsFd returns the one fd an SCM_RIGHTS message carries.
func rightsFd(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return -1, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, got...)
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("the message carries %d fds, want 1", len(fds))
	}
	return fds[0], nil
}

func TestSendListenerNoAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	err := SendListener(path, 0, rspec.ContainerProcessState{})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("SendListener to a missing socket: %v, want ENOENT", err)
	}
}
