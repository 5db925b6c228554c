package ipvs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lvsha/ldird/dataplane"
)

var _ dataplane.ConnLister = (*IPVS)(nil)

// Connections implements dataplane.ConnLister: the kernel's connection
// table, read from /proc/net/ip_vs_conn_sync, which is ipvsadm -Lnc's
// /proc/net/ip_vs_conn plus each entry's origin (made here, or learnt
// from another director's master sync daemon). /proc/net is the calling
// process's network namespace, which for ldird is the handle's.
func (v *IPVS) Connections() ([]dataplane.Conn, error) {
	var out []dataplane.Conn
	err := v.eachConn(func(c dataplane.Conn) { out = append(out, c) })
	return out, err
}

// ConnOrigins counts the connection table's entries by origin without
// keeping them (for metrics: a table may hold millions).
func (v *IPVS) ConnOrigins() (local, synced int, err error) {
	err = v.eachConn(func(c dataplane.Conn) {
		if c.Synced {
			synced++
		} else {
			local++
		}
	})
	return local, synced, err
}

func (v *IPVS) eachConn(fn func(dataplane.Conn)) error {
	dir := v.procNet
	if dir == "" {
		dir = "/proc/net"
	}
	f, err := os.Open(filepath.Join(dir, "ip_vs_conn_sync"))
	if errors.Is(err, fs.ErrNotExist) {
		// Without the origin column: every entry counts as local.
		f, err = os.Open(filepath.Join(dir, "ip_vs_conn"))
	}
	if err != nil {
		return fmt.Errorf("ipvs: connection table: %w", err)
	}
	defer f.Close()
	if err := parseConns(f, fn); err != nil {
		return fmt.Errorf("ipvs: connection table %s: %w", f.Name(), err)
	}
	return nil
}

// parseConns reads the kernel's connection table text (ip_vs_conn or
// ip_vs_conn_sync; the header line tells which): addresses in hex for
// IPv4 and in full colon form for IPv6, ports in hex, expiry in seconds.
func parseConns(r io.Reader, fn func(dataplane.Conn)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 64<<10)
	if !sc.Scan() {
		return sc.Err()
	}
	head := strings.Fields(sc.Text())
	if len(head) < 9 || head[0] != "Pro" || head[1] != "FromIP" {
		return fmt.Errorf("unexpected header %q", sc.Text())
	}
	origin := head[8] == "Origin"
	ln := 1
	for sc.Scan() {
		ln++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		c, err := parseConn(f, origin)
		if err != nil {
			return fmt.Errorf("line %d %q: %w", ln, sc.Text(), err)
		}
		fn(c)
	}
	return sc.Err()
}

func parseConn(f []string, origin bool) (dataplane.Conn, error) {
	var c dataplane.Conn
	want := 9
	if origin {
		want = 10
	}
	if len(f) < want {
		return c, fmt.Errorf("%d fields, want %d", len(f), want)
	}
	c.Protocol = f[0]
	var err error
	if c.Client, err = procAddrPort(f[1], f[2]); err != nil {
		return c, err
	}
	if c.Virtual, err = procAddrPort(f[3], f[4]); err != nil {
		return c, err
	}
	if c.Real, err = procAddrPort(f[5], f[6]); err != nil {
		return c, err
	}
	c.State = f[7]
	exp := f[8]
	if origin {
		switch f[8] {
		case "SYNC":
			c.Synced = true
		case "LOCAL":
		default:
			return c, fmt.Errorf("unknown origin %q", f[8])
		}
		exp = f[9]
	}
	secs, err := strconv.ParseUint(exp, 10, 32)
	if err != nil {
		return c, fmt.Errorf("expiry %q: %w", exp, err)
	}
	c.Expires = time.Duration(secs) * time.Second
	return c, nil
}

// procAddrPort reads an address (8 hex digits for IPv4, %pI6 for IPv6)
// and a port (4 hex digits).
func procAddrPort(addr, port string) (netip.AddrPort, error) {
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", port, err)
	}
	if strings.Contains(addr, ":") {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(a, uint16(p)), nil
	}
	n, err := strconv.ParseUint(addr, 16, 32)
	if err != nil || len(addr) != 8 {
		return netip.AddrPort{}, fmt.Errorf("address %q: want 8 hex digits", addr)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	return netip.AddrPortFrom(netip.AddrFrom4(b), uint16(p)), nil
}
