package bundle

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// resolvedUser is process.user plus the home directory for HOME.
type resolvedUser struct {
	rspec.User
	home string
}

// ResolveUser is resolveUser for other packages (docker exec -u): the
// process user and the user's home directory.
func ResolveUser(rootfs, spec string, groupAdd []string) (rspec.User, string, error) {
	u, err := resolveUser(rootfs, spec, groupAdd)
	return u.User, u.home, err
}

// resolveUser resolves spec ("", "uid", "name", "uid:gid", "name:group")
// against the rootfs's /etc/passwd and /etc/group as Docker (runc's user
// package) does: a numeric id needs no entry, a name does; the primary
// group is the user's unless one is given; the supplementary groups are
// those that list the user by name, only when no group is given; then
// groupAdd.
func resolveUser(rootfs, spec string, groupAdd []string) (resolvedUser, error) {
	users, err := readPasswd(rootfs)
	if err != nil {
		return resolvedUser{}, err
	}
	groups, err := readGroup(rootfs)
	if err != nil {
		return resolvedUser{}, err
	}
	userArg, groupArg, _ := strings.Cut(spec, ":")

	u := resolvedUser{home: "/"}
	matched := ""
	switch uid, numErr := parseID(userArg); {
	case userArg == "":
		if e, ok := findUser(users, func(e passwdEntry) bool { return e.uid == 0 }); ok {
			u.GID, u.home, matched = e.gid, e.home, e.name
		}
	default:
		e, ok := findUser(users, func(e passwdEntry) bool {
			if numErr == nil {
				return e.uid == uid
			}
			return e.name == userArg
		})
		switch {
		case ok:
			u.UID, u.GID, u.home, matched = e.uid, e.gid, e.home, e.name
		case numErr != nil:
			return resolvedUser{}, fmt.Errorf("user %q: unable to find user %s: no matching entries in the rootfs's /etc/passwd", spec, userArg)
		default:
			u.UID = uid
		}
	}

	if groupArg != "" {
		gid, err := lookupGroup(groups, groupArg)
		if err != nil {
			return resolvedUser{}, fmt.Errorf("user %q: %w", spec, err)
		}
		u.GID = gid
	} else if matched != "" {
		for _, g := range groups {
			for _, m := range g.members {
				if m == matched {
					u.AdditionalGids = append(u.AdditionalGids, g.gid)
					break
				}
			}
		}
	}
	// Docker (since 20.10.18) also keeps the primary group among the
	// supplementary ones, so dropping the gid cannot drop its access.
	if !slices.Contains(u.AdditionalGids, u.GID) {
		u.AdditionalGids = append([]uint32{u.GID}, u.AdditionalGids...)
	}
	for _, name := range groupAdd {
		gid, err := lookupGroup(groups, name)
		if err != nil {
			return resolvedUser{}, fmt.Errorf("group-add: %w", err)
		}
		u.AdditionalGids = append(u.AdditionalGids, gid)
	}
	return u, nil
}

// lookupGroup finds a group by name or number; a number needs no entry.
func lookupGroup(groups []groupEntry, arg string) (uint32, error) {
	gid, numErr := parseID(arg)
	for _, g := range groups {
		if (numErr == nil && g.gid == gid) || (numErr != nil && g.name == arg) {
			return g.gid, nil
		}
	}
	if numErr != nil {
		return 0, fmt.Errorf("unable to find group %s: no matching entries in the rootfs's /etc/group", arg)
	}
	return gid, nil
}

func findUser(users []passwdEntry, match func(passwdEntry) bool) (passwdEntry, bool) {
	for _, u := range users {
		if match(u) {
			return u, true // the first match wins, as in libc
		}
	}
	return passwdEntry{}, false
}

// parseID parses a uid or gid; ids stop below 2^31 as in runc.
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	return uint32(n), err
}

func readPasswd(rootfs string) ([]passwdEntry, error) {
	var users []passwdEntry
	err := readColonFile(rootfs, "/etc/passwd", func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		users = append(users, e)
	})
	return users, err
}

func readGroup(rootfs string) ([]groupEntry, error) {
	var groups []groupEntry
	err := readColonFile(rootfs, "/etc/group", func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			return
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		groups = append(groups, g)
	})
	return groups, err
}

// readColonFile calls line with the fields of each entry of the file at
// name inside rootfs (symlinks resolved inside it). A missing file has no
// entries; lines that are blank, comments or malformed are skipped.
func readColonFile(rootfs, name string, line func([]string)) error {
	p, err := securejoin.SecureJoin(rootfs, name)
	if err != nil {
		return fmt.Errorf("%s in the rootfs: %w", name, err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s in the rootfs: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		line(strings.Split(text, ":"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s in the rootfs: %w", name, err)
	}
	return nil
}
