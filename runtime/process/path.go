package process

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotFound is returned (wrapped) by LookupEnvPath when no directory of
// $PATH holds the executable.
var ErrNotFound = errors.New("executable file not found in $PATH")

// defaultPath is what execvp searches when the environment has no PATH.
const defaultPath = "/bin:/usr/bin"

// LookupEnvPath resolves args[0] as execvp would, but with the PATH of the
// container's environment env rather than the runtime's. It runs in the
// init after pivot_root and CheckCwd, so paths are the container's and a
// relative result is relative to process.cwd. A name with a slash is not
// searched, only checked.
func LookupEnvPath(env []string, file string) (string, error) {
	if file == "" {
		return "", errors.New("process.args[0] is empty")
	}
	if strings.IndexByte(file, '/') >= 0 {
		if err := executable(file); err != nil {
			// The errno's own words: Docker reads "no such file or
			// directory" and "permission denied" in the message to exit
			// 127 or 126, as a shell would.
			return "", fmt.Errorf("%s: %w", file, err)
		}
		return file, nil
	}
	dirs := defaultPath
	for i := len(env) - 1; i >= 0; i-- { // the last PATH wins, as with runc
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			dirs = v
			break
		}
	}
	var denied error
	for dir := range strings.SplitSeq(dirs, ":") {
		if dir == "" {
			dir = "." // an empty entry means the working directory
		}
		p := dir + "/" + file
		err := executable(p)
		if err == nil {
			return p, nil
		}
		// Like execvp, go on after a file that cannot be run, but say so
		// when nothing better turns up.
		if denied == nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			denied = fmt.Errorf("%s: %w", p, err)
		}
	}
	if denied != nil {
		return "", fmt.Errorf("%w: %s (%w)", ErrNotFound, file, denied)
	}
	return "", fmt.Errorf("%w: %s", ErrNotFound, file)
}

// executable checks that p is a regular file with an execute bit.
func executable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return unix.EISDIR
	case st.Mode&unix.S_IFMT != unix.S_IFREG, st.Mode&0o111 == 0:
		return unix.EACCES
	}
	return nil
}
