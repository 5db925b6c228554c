package api

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cred is a peer's identity as SO_PEERCRED reports it.
type Cred struct {
	UID uint32
	GID uint32
	PID int32
}

// authorizer decides who may do what. Its lookups are fields so that tests
// can inject them.
type authorizer struct {
	// groupGID returns the gid of the haclient group, or ok=false if the
	// group does not exist.
	groupGID func() (gid uint32, ok bool)
	// groups returns the peer's supplementary groups.
	groups func(c Cred) []uint32
}

func defaultAuthorizer() *authorizer {
	return &authorizer{groupGID: lookupGroup, groups: peerGroups}
}

// authorize returns nil if the peer may perform op, else a CodeDenied error.
func (a *authorizer) authorize(c Cred, op string) *Error {
	if c.UID == 0 {
		return nil
	}
	if mutating(op) {
		return &Error{Code: CodeDenied, Msg: msgOnlyRoot}
	}
	if gid, ok := a.groupGID(); ok {
		if c.GID == gid {
			return nil
		}
		for _, g := range a.groups(c) {
			if g == gid {
				return nil
			}
		}
		return errorf(CodeDenied, "permission denied: uid %d is neither root nor in group %s", c.UID, Group)
	}
	return errorf(CodeDenied, "permission denied: only root may query hbd (group %s does not exist)", Group)
}

func lookupGroup() (uint32, bool) {
	g, err := user.LookupGroup(Group)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// peerGroups reads the peer process's supplementary groups from /proc, and
// falls back to the group database for its uid.
func peerGroups(c Cred) []uint32 {
	if c.PID > 0 {
		if gs, ok := procGroups(fmt.Sprintf("/proc/%d/status", c.PID), c.UID); ok {
			return gs
		}
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(c.UID), 10))
	if err != nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []uint32
	for _, s := range ids {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

// procGroups parses the Groups: line of a /proc/PID/status file, checking
// that the process still has the expected effective uid (guarding against
// pid reuse).
func procGroups(path string, uid uint32) ([]uint32, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var groups []uint32
	uidOK, seen := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "Uid":
			f := strings.Fields(v)
			uidOK = len(f) >= 2 && f[1] == strconv.FormatUint(uint64(uid), 10)
		case "Groups":
			seen = true
			for _, s := range strings.Fields(v) {
				if n, err := strconv.ParseUint(s, 10, 32); err == nil {
					groups = append(groups, uint32(n))
				}
			}
		}
	}
	return groups, seen && uidOK
}

// peerCred reads SO_PEERCRED from a Unix connection.
func peerCred(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var uc *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, err
	}
	if serr != nil {
		return Cred{}, serr
	}
	return Cred{UID: uc.Uid, GID: uc.Gid, PID: uc.Pid}, nil
}
