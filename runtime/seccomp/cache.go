package seccomp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// magic starts a marshalled Filter; its last byte is the format version.
const magic = "XRTSCMP1"

// header: magic, flags (8 bytes), notify (1), instruction count (4).
const headerLen = len(magic) + 8 + 1 + 4

// MarshalBinary encodes the compiled filter for this host (native byte
// order), so that it can be cached or built in one process and loaded in
// another. A checksum ends it: UnmarshalBinary refuses a damaged copy.
func (f *Filter) MarshalBinary() ([]byte, error) {
	if f == nil || f.released {
		return nil, errors.New("seccomp: marshal of a nil or released filter")
	}
	b := make([]byte, headerLen, headerLen+len(f.prog)*8+sha256.Size)
	copy(b, magic)
	binary.NativeEndian.PutUint64(b[len(magic):], uint64(f.flags))
	if f.notify {
		b[len(magic)+8] = 1
	}
	binary.NativeEndian.PutUint32(b[len(magic)+9:], uint32(len(f.prog)))
	for _, in := range f.prog {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (f *Filter) UnmarshalBinary(b []byte) error {
	if len(b) < headerLen+sha256.Size || string(b[:len(magic)]) != magic {
		return errors.New("seccomp: not a marshalled filter")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return errors.New("seccomp: marshalled filter fails its checksum")
	}
	n := int(binary.NativeEndian.Uint32(body[len(magic)+9:]))
	if n == 0 || n > maxInsns || len(body) != headerLen+n*8 {
		return fmt.Errorf("seccomp: marshalled filter has a bad length (%d instructions)", n)
	}
	prog := decodeProg(body[headerLen:])
	*f = Filter{
		prog:   prog,
		fprog:  unix.SockFprog{Len: uint16(n), Filter: &prog[0]},
		flags:  uintptr(binary.NativeEndian.Uint64(body[len(magic):])),
		notify: body[len(magic)+8] == 1,
	}
	return nil
}

// BuildCached is Build with a cache of compiled filters in dir. libseccomp
// takes 5 to 25 ms to compile Docker's profile, more than the rest of a
// container start, and the result only depends on the profile, the library
// and the kernel. dir must be a directory only root may write (under the
// runtime's state root, say): a filter read from it is loaded as it is. The
// key covers the whole profile, the libseccomp version and API level, the
// kernel release and this binary (its inode, size and mtime), so a new xrt
// whose rules differ never loads what an older one compiled. A profile that Build refuses is never cached; a cache that
// cannot be read or written only costs the time of a Build.
func BuildCached(s *rspec.LinuxSeccomp, dir string) (*Filter, error) {
	if s == nil {
		return nil, nil
	}
	key, err := cacheKey(s)
	if err != nil {
		return Build(s)
	}
	path := filepath.Join(dir, key)
	if b, err := os.ReadFile(path); err == nil {
		f := new(Filter)
		if f.UnmarshalBinary(b) == nil {
			return f, nil
		}
	}
	f, err := Build(s)
	if err != nil {
		return nil, err
	}
	_ = writeCache(dir, path, f)
	return f, nil
}

func cacheKey(s *rspec.LinuxSeccomp) (string, error) {
	profile, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", err
	}
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return "", err
	}
	maj, min, micro := libseccomp.GetLibraryVersion()
	api, _ := libseccomp.GetAPI()
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d.%d.%d\x00%d\x00%s\x00%d:%d:%d:%d.%d\x00", magic, maj, min, micro, api,
		unix.ByteSliceToString(uts.Release[:]), exe.Dev, exe.Ino, exe.Size, exe.Mtim.Sec, exe.Mtim.Nsec)
	h.Write(profile)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeCache stores f at path atomically, so that a reader sees a whole
// file or none.
func writeCache(dir, path string, f *Filter) error {
	b, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
