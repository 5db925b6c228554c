package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SyncDaemon is the extension directive
//
//	syncdaemon = IFACE [syncid=N] [maxlen=N] [mcast=GROUP[:PORT]] [ttl=N]
//
// (global only): ldird runs the kernel's IPVS master and backup connection
// synchronisation daemons on IFACE, so that the director taking the
// virtual IPs over already has the connections of the one that failed.
// Zero fields mean the kernel's defaults (syncid 0, group
// 224.0.0.81:8848, ttl 1, maxlen from the interface's MTU).
type SyncDaemon struct {
	Line      int
	Interface string
	SyncID    uint8
	MaxLen    uint16
	Group     netip.Addr
	Port      uint16
	TTL       uint8
}

// syncDaemonUsage ends every message about the directive.
const syncDaemonUsage = "syncdaemon = IFACE [syncid=0..255] [maxlen=N] [mcast=GROUP[:PORT]] [ttl=1..255], an ldird extension; ldirectord does not know it"

// maxSyncLen is the largest UDP payload over IPv4 (65535 - 20 - 8), the
// kernel's upper clamp of maxlen.
const maxSyncLen = 65507

func globalSyncDaemon(p *parser, g *Global, ln int, _, val string) {
	if g.SyncDaemon != nil {
		p.r.errorf(ln, "syncdaemon given twice (first on line %d): the kernel runs one master and one backup daemon", g.SyncDaemon.Line)
		return
	}
	sd, err := parseSyncDaemon(stripComment(val))
	if err != nil {
		p.r.errorf(ln, "%v (%s)", err, syncDaemonUsage)
		return
	}
	sd.Line = ln
	g.SyncDaemon = sd
}

func parseSyncDaemon(val string) (*SyncDaemon, error) {
	f := strings.Fields(val)
	if len(f) == 0 || strings.Contains(f[0], "=") {
		return nil, fmt.Errorf("syncdaemon needs the interface to send and receive on first")
	}
	sd := &SyncDaemon{Interface: f[0]}
	if err := checkIfName(f[0]); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, opt := range f[1:] {
		k, v, ok := strings.Cut(opt, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("syncdaemon option %q: want name=value", opt)
		}
		if seen[k] {
			return nil, fmt.Errorf("syncdaemon option %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "syncid":
			n, err := boundedUint(k, v, 0, 255)
			if err != nil {
				return nil, err
			}
			sd.SyncID = uint8(n)
		case "maxlen":
			n, err := boundedUint(k, v, 1, maxSyncLen)
			if err != nil {
				return nil, err
			}
			sd.MaxLen = uint16(n)
		case "ttl":
			n, err := boundedUint(k, v, 1, 255)
			if err != nil {
				return nil, err
			}
			sd.TTL = uint8(n)
		case "mcast":
			g, port, err := parseGroup(v)
			if err != nil {
				return nil, err
			}
			sd.Group, sd.Port = g, port
		default:
			return nil, fmt.Errorf("unknown syncdaemon option %q", k)
		}
	}
	return sd, nil
}

func boundedUint(name, v string, lo, hi uint64) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("syncdaemon %s=%s: want a number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// parseGroup reads GROUP, GROUP:PORT or [GROUP6]:PORT; the group must be
// a multicast address.
func parseGroup(v string) (netip.Addr, uint16, error) {
	var port uint16
	addr := v
	if ap, err := netip.ParseAddrPort(v); err == nil {
		if ap.Port() == 0 {
			return netip.Addr{}, 0, fmt.Errorf("syncdaemon mcast=%s: port must be from 1 to 65535", v)
		}
		addr, port = ap.Addr().String(), ap.Port()
	} else if strings.Count(v, ":") == 1 {
		return netip.Addr{}, 0, fmt.Errorf("syncdaemon mcast=%s: port must be a number from 1 to 65535", v)
	}
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("syncdaemon mcast=%s: not an address (GROUP, GROUP:PORT or [GROUP6]:PORT)", v)
	}
	if a.Zone() != "" || !a.IsMulticast() {
		return netip.Addr{}, 0, fmt.Errorf("syncdaemon mcast=%s: %s is not a multicast address (224.0.0.0/4, ff00::/8)", v, a)
	}
	return a, port, nil
}

// checkIfName is the kernel's dev_valid_name, with the sync daemon's
// limit of 15 bytes.
func checkIfName(s string) error {
	if len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/:") {
		return fmt.Errorf("syncdaemon interface %q is not a valid interface name (1 to 15 bytes, no / or :)", s)
	}
	return nil
}
