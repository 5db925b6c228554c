package resources

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/resources/netif"
)

// DRRealServer is the real-server side of LVS direct routing, done by
// hand on most farms: every VIP sits on lo as a host address (/32, /128)
// so the server accepts packets the director forwards unchanged, and
// arp_ignore/arp_announce keep it from answering or advertising ARP for
// the VIP (the director alone must own it on the LAN).
//
// Start records the sysctl values it changes in StateDir so that stop
// puts back exactly what was there. The state is shared with
// scripts/lvs-realserver (same files, same flock), and reference-counted:
// several instances may hold the sysctls, and the original values come
// back only when the last one stops.
//
// IPv6 has no ARP: the kernel answers neighbour solicitations only for
// addresses on the receiving interface, so a /128 on lo is all a real
// server needs. With only IPv6 VIPs no sysctl is touched.
//
// Addresses and routes go through opts.Net, the sysctls through
// opts.Conf (netif), so a fake can stand in for the kernel.
type DRRealServer struct {
	Token       string
	VIPs        []netip.Addr
	NICs        []string // explicit nic; nil = interfaces of the IPv4 default route
	ARPIgnore   int
	ARPAnnounce int
	StateDir    string // holds lvs-realserver.sysctl, lvs-realserver.d/, lvs-realserver.lock

	opts NativeOptions
}

// State file names under StateDir, shared with scripts/lvs-realserver.
const (
	drSysctlFile = "lvs-realserver.sysctl" // "IFACE NAME VALUE": values before the first holder
	drHolderDir  = "lvs-realserver.d"      // one file per started instance
	drLockFile   = "lvs-realserver.lock"
)

var drParamNames = map[string]bool{"vip": true, "nic": true, "arp_ignore": true, "arp_announce": true, "state_dir": true}

// splitList splits a comma and/or white-space separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// ParseVIPList parses vip: IPv4 and IPv6 addresses separated by commas or
// spaces. A host prefix (/32, /128) is accepted since HOWTOs write it.
func ParseVIPList(s string) ([]netip.Addr, error) {
	var vips []netip.Addr
	for _, f := range splitList(s) {
		addr, bits, hasBits := strings.Cut(f, "/")
		ip, err := netip.ParseAddr(addr)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("vip %q is not an IP address", f)
		}
		ip = ip.Unmap()
		if hasBits && bits != strconv.Itoa(ip.BitLen()) {
			return nil, fmt.Errorf("vip %q: a real server holds the VIP as a host address (/%d)", f, ip.BitLen())
		}
		if ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
			return nil, fmt.Errorf("vip %q cannot be a virtual service address", f)
		}
		if !slices.Contains(vips, ip) {
			vips = append(vips, ip)
		}
	}
	if len(vips) == 0 {
		return nil, errors.New("parameter vip is required")
	}
	return vips, nil
}

// DRRealServerParamsFromArgs maps haresources arguments:
// DRRealServer::VIP[::VIP...], where an argument NAME=VALUE sets another
// parameter (DRRealServer::10.0.0.100::nic=eth1).
func DRRealServerParamsFromArgs(args []string) (map[string]string, error) {
	p := map[string]string{}
	var vips []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if !drParamNames[k] || k == "vip" {
				return nil, fmt.Errorf("DRRealServer: unknown argument %q (VIPs, nic=, arp_ignore=, arp_announce=, state_dir=)", a)
			}
			p[k] = v
			continue
		}
		vips = append(vips, a)
	}
	if len(vips) == 0 {
		return nil, errors.New("DRRealServer needs at least one VIP argument (DRRealServer::VIP)")
	}
	p["vip"] = strings.Join(vips, ",")
	return p, nil
}

// NewDRRealServer builds the agent from OCF parameters vip, nic,
// arp_ignore (1), arp_announce (2) and state_dir (opts.StateDir).
// Parameter errors are OCF_ERR_CONFIGURED.
func NewDRRealServer(p map[string]string, opts NativeOptions) (*DRRealServer, error) {
	opts.fill()
	for k := range p {
		if !drParamNames[k] {
			opts.Logger.Warn("ignoring unknown parameter", "agent", "DRRealServer", "param", k)
		}
	}
	vips, err := ParseVIPList(p["vip"])
	if err != nil {
		return nil, ocfErrorf(OCFErrConfigured, "DRRealServer: %v", err)
	}
	a := &DRRealServer{VIPs: vips, NICs: splitList(p["nic"]), opts: opts}
	for _, n := range a.NICs {
		// "all"/"default" are sysctl directories, not interfaces; lo
		// carries the VIPs and must keep answering for them locally.
		if n == "all" || n == "default" || n == "lo" || n == "." || n == ".." || strings.Contains(n, "/") {
			return nil, ocfErrorf(OCFErrConfigured, "DRRealServer: nic=%q is not a usable interface name", n)
		}
	}
	if a.ARPIgnore, err = paramChoice(p, "arp_ignore", 1, 0, 1, 2, 3, 8); err != nil {
		return nil, err
	}
	if a.ARPAnnounce, err = paramChoice(p, "arp_announce", 2, 0, 1, 2); err != nil {
		return nil, err
	}
	a.StateDir = p["state_dir"]
	if a.StateDir == "" {
		a.StateDir = opts.StateDir
	}
	if !filepath.IsAbs(a.StateDir) {
		return nil, ocfErrorf(OCFErrConfigured, "DRRealServer: state_dir=%q must be an absolute path", a.StateDir)
	}
	words := make([]string, len(vips))
	for i, v := range vips {
		words[i] = v.String()
	}
	a.Token = "DRRealServer::" + strings.Join(words, "::")
	return a, nil
}

// paramChoice reads an integer that must be one of allowed (the values the
// kernel defines for the sysctl).
func paramChoice(p map[string]string, name string, def int, allowed ...int) (int, error) {
	v := p[name]
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || !slices.Contains(allowed, n) {
		return 0, ocfErrorf(OCFErrConfigured, "DRRealServer: %s=%q: must be one of %v", name, v, allowed)
	}
	return n, nil
}

func (a *DRRealServer) String() string { return a.Token }

// id names this instance's holder file: its VIPs (IPv6 fully expanded:
// one spelling per address), as scripts/lvs-realserver names its own.
func (a *DRRealServer) id() string {
	words := make([]string, len(a.VIPs))
	for i, v := range a.VIPs {
		words[i] = v.StringExpanded()
	}
	id := strings.Join(words, "_")
	if len(id) > 200 { // file name limit
		h := fnv.New64a()
		h.Write([]byte(id))
		id = fmt.Sprintf("h%016x", h.Sum64())
	}
	return id
}

func (a *DRRealServer) hasIPv4() bool {
	return slices.ContainsFunc(a.VIPs, netip.Addr.Is4)
}

// ifaces are the sysctl directories to set: "all" (the kernel takes the
// maximum of all and the device) plus the interface(s) the director's
// traffic arrives on, as the HOWTOs set both. None for IPv6-only VIPs.
func (a *DRRealServer) ifaces() ([]string, error) {
	if !a.hasIPv4() {
		return nil, nil
	}
	out := []string{"all"}
	n := a.opts.Net
	if len(a.NICs) > 0 {
		for _, nic := range a.NICs {
			if _, err := n.LinkByName(nic); err != nil {
				return nil, ocfErrorf(OCFErrConfigured, "DRRealServer: nic %s: %w", nic, err)
			}
			if !slices.Contains(out, nic) {
				out = append(out, nic)
			}
		}
		return out, nil
	}
	routes, err := n.Routes(netif.V4)
	if err != nil {
		return nil, netErr(err, "DRRealServer")
	}
	for _, r := range routes {
		if r.Dst.Bits() != 0 {
			continue
		}
		for _, i := range append([]int{r.LinkIndex}, r.Nexthops...) {
			if i == 0 {
				continue
			}
			l, err := n.LinkByIndex(i)
			if err != nil {
				return nil, netErr(err, "DRRealServer: interface of the default route")
			}
			if l.Name != "lo" && !slices.Contains(out, l.Name) {
				out = append(out, l.Name)
			}
		}
	}
	if len(out) == 1 {
		a.opts.Logger.Info("no IPv4 default route and no nic: setting the ARP sysctls on all only", "resource", a.Token)
	}
	return out, nil
}

var drSysctlNames = []string{"arp_ignore", "arp_announce"}

func (a *DRRealServer) want(name string) int {
	if name == "arp_ignore" {
		return a.ARPIgnore
	}
	return a.ARPAnnounce
}

func (a *DRRealServer) readSysctl(iface, name string) (int, error) {
	v, err := a.opts.Conf.IPv4Conf(iface, name)
	if err != nil {
		return 0, ocfErrorf(OCFErrGeneric, "DRRealServer: %w", err)
	}
	return v, nil
}

func (a *DRRealServer) writeSysctl(iface, name string, v int) error {
	if err := a.opts.Conf.SetIPv4Conf(iface, name, v); err != nil {
		return netErr(err, "DRRealServer")
	}
	return nil
}

// sysctlEntry is one remembered original value.
type sysctlEntry struct {
	iface, name string
	value       int
}

func (a *DRRealServer) readOriginals() ([]sysctlEntry, error) {
	b, err := os.ReadFile(filepath.Join(a.StateDir, drSysctlFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, ocfErrorf(OCFErrGeneric, "DRRealServer: read saved sysctls: %v", err)
	}
	var out []sysctlEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for ln := 1; sc.Scan(); ln++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		v, err := strconv.Atoi(f[len(f)-1])
		if len(f) != 3 || err != nil || !slices.Contains(drSysctlNames, f[1]) {
			return nil, ocfErrorf(OCFErrGeneric, "DRRealServer: %s:%d: want IFACE arp_ignore|arp_announce VALUE, got %q",
				filepath.Join(a.StateDir, drSysctlFile), ln, sc.Text())
		}
		out = append(out, sysctlEntry{f[0], f[1], v})
	}
	return out, nil
}

func (a *DRRealServer) writeOriginals(es []sysctlEntry) error {
	p := filepath.Join(a.StateDir, drSysctlFile)
	if len(es) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ocfErrorf(OCFErrGeneric, "DRRealServer: %v", err)
		}
		return nil
	}
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s %s %d\n", e.iface, e.name, e.value)
	}
	return writeFileAtomic(p, []byte(b.String()))
}

// writeFileAtomic replaces p so a crash never leaves half a state file
// (a lost original value could not be restored).
func writeFileAtomic(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return ocfErrorf(OCFErrGeneric, "DRRealServer: write %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return ocfErrorf(OCFErrGeneric, "DRRealServer: %v", err)
	}
	return nil
}

// holder is one started instance's record.
type holder struct {
	vips, ifaces []string
}

func (a *DRRealServer) holderPath() string {
	return filepath.Join(a.StateDir, drHolderDir, a.id())
}

func readHolder(p string) (holder, error) {
	var h holder
	b, err := os.ReadFile(p)
	if err != nil {
		return h, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "vips":
			h.vips = f[1:]
		case "ifaces":
			h.ifaces = f[1:]
		}
	}
	return h, nil
}

// lock serialises instances (and the script, which flocks the same file)
// so that two starts cannot both record already-changed values as the
// originals.
func (a *DRRealServer) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Join(a.StateDir, drHolderDir), 0o755); err != nil {
		return nil, ocfErrorf(OCFErrGeneric, "DRRealServer: state dir: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(a.StateDir, drLockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, ocfErrorf(OCFErrGeneric, "DRRealServer: lock: %v", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, ocfErrorf(OCFErrGeneric, "DRRealServer: lock %s: %v", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ocfErrorf(OCFErrGeneric, "DRRealServer: waiting for %s: %v", f.Name(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func vipHost(ip netip.Addr) netip.Prefix { return netip.PrefixFrom(ip, ip.BitLen()) }

// onLo reports, per VIP, whether lo holds it as a host address.
func (a *DRRealServer) onLo() (netif.Link, []bool, error) {
	lo, err := a.opts.Net.LinkByName("lo")
	if err != nil {
		return lo, nil, netErr(err, "DRRealServer")
	}
	addrs, err := a.opts.Net.Addrs(lo, netif.All)
	if err != nil {
		return lo, nil, netErr(err, "DRRealServer")
	}
	have := make([]bool, len(a.VIPs))
	for i, v := range a.VIPs {
		have[i] = slices.ContainsFunc(addrs, func(ad netif.Addr) bool { return ad.Prefix == vipHost(v) })
	}
	return lo, have, nil
}

// Start sets the ARP sysctls (remembering the old values), then adds the
// VIPs to lo. That order leaves no moment in which the server would
// answer ARP for a VIP it already holds.
func (a *DRRealServer) Start(ctx context.Context) error {
	ifaces, err := a.ifaces()
	if err != nil {
		return err
	}
	unlock, err := a.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	log := a.opts.Logger.With("resource", a.Token)

	orig, err := a.readOriginals()
	if err != nil {
		return err
	}
	added := false
	for _, ifc := range ifaces {
		for _, name := range drSysctlNames {
			if slices.ContainsFunc(orig, func(e sysctlEntry) bool { return e.iface == ifc && e.name == name }) {
				continue // an earlier start recorded the value before any change
			}
			v, err := a.readSysctl(ifc, name)
			if err != nil {
				return err
			}
			orig = append(orig, sysctlEntry{ifc, name, v})
			added = true
		}
	}
	if added {
		if err := a.writeOriginals(orig); err != nil {
			return err
		}
	}
	vips := make([]string, len(a.VIPs))
	for i, v := range a.VIPs {
		vips[i] = v.String()
	}
	rec := fmt.Sprintf("vips %s\nifaces %s\narp_ignore %d\narp_announce %d\n",
		strings.Join(vips, " "), strings.Join(ifaces, " "), a.ARPIgnore, a.ARPAnnounce)
	if err := writeFileAtomic(a.holderPath(), []byte(rec)); err != nil {
		return err
	}
	for _, ifc := range ifaces {
		for _, name := range drSysctlNames {
			if err := a.writeSysctl(ifc, name, a.want(name)); err != nil {
				return err
			}
		}
	}
	if len(ifaces) > 0 {
		log.Info("ARP sysctls set", "ifaces", ifaces, "arp_ignore", a.ARPIgnore, "arp_announce", a.ARPAnnounce)
	}

	lo, have, err := a.onLo()
	if err != nil {
		return err
	}
	for i, v := range a.VIPs {
		if have[i] {
			continue
		}
		if err := a.opts.Net.AddAddr(lo, netif.Addr{Prefix: vipHost(v)}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return netErr(err, "DRRealServer")
		}
		log.Info("VIP added to lo", "vip", vipHost(v))
	}
	if err := a.opts.Net.SetUp(lo); err != nil {
		return netErr(err, "DRRealServer")
	}
	return nil
}

// Stop removes the VIPs from lo, then gives back every sysctl no other
// started instance still needs. Stopping a stopped instance succeeds.
func (a *DRRealServer) Stop(ctx context.Context) error {
	unlock, err := a.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	lo, have, err := a.onLo()
	if err != nil {
		return err
	}
	log := a.opts.Logger.With("resource", a.Token)
	for i, v := range a.VIPs {
		if !have[i] {
			continue
		}
		if err := a.opts.Net.DelAddr(lo, vipHost(v)); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return netErr(err, "DRRealServer")
		}
		log.Info("VIP removed from lo", "vip", vipHost(v))
	}
	if err := os.Remove(a.holderPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ocfErrorf(OCFErrGeneric, "DRRealServer: %v", err)
	}
	// Interfaces other started instances (agent or script) still rely on.
	inUse := map[string]bool{}
	others, err := os.ReadDir(filepath.Join(a.StateDir, drHolderDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ocfErrorf(OCFErrGeneric, "DRRealServer: %v", err)
	}
	for _, o := range others {
		if strings.HasSuffix(o.Name(), ".tmp") {
			continue
		}
		h, err := readHolder(filepath.Join(a.StateDir, drHolderDir, o.Name()))
		if err != nil {
			continue // removed meanwhile by a script without the lock
		}
		for _, ifc := range h.ifaces {
			inUse[ifc] = true
		}
	}
	orig, err := a.readOriginals()
	if err != nil {
		return err
	}
	var keep []sysctlEntry
	var restored []string
	for _, e := range orig {
		if inUse[e.iface] {
			keep = append(keep, e)
			continue
		}
		if _, err := a.opts.Conf.IPv4Conf(e.iface, e.name); errors.Is(err, fs.ErrNotExist) {
			log.Info("interface gone; nothing to restore", "iface", e.iface)
			continue
		}
		if err := a.writeSysctl(e.iface, e.name, e.value); err != nil {
			return err
		}
		restored = append(restored, fmt.Sprintf("%s.%s=%d", e.iface, e.name, e.value))
	}
	if err := a.writeOriginals(keep); err != nil {
		return err
	}
	if len(restored) > 0 {
		log.Info("ARP sysctls restored", "values", restored)
	} else if len(keep) > 0 {
		log.Info("ARP sysctls kept: other real-server instances still hold them")
	}
	return nil
}

// Status: running when every VIP is on lo and the sysctls have the
// required values; stopped when no VIP is on lo; failed otherwise (a VIP
// missing, or a sysctl reset, which makes the server answer ARP for the
// VIP and steal the director's traffic).
func (a *DRRealServer) Status(ctx context.Context) (State, error) {
	_, have, err := a.onLo()
	if err != nil {
		return Failed, err
	}
	var missing []string
	for i, v := range a.VIPs {
		if !have[i] {
			missing = append(missing, v.String())
		}
	}
	switch len(missing) {
	case len(a.VIPs):
		return Stopped, nil
	case 0:
	default:
		return Failed, ocfErrorf(OCFErrGeneric, "DRRealServer: partly configured: %s not on lo", strings.Join(missing, ", "))
	}
	ifaces, err := a.ifaces()
	if h, herr := readHolder(a.holderPath()); herr == nil {
		ifaces = h.ifaces // what start set, even if the default route moved since
	} else if err != nil {
		return Failed, err
	}
	var wrong []string
	for _, ifc := range ifaces {
		for _, name := range drSysctlNames {
			v, err := a.readSysctl(ifc, name)
			if err != nil {
				return Failed, err
			}
			if v != a.want(name) {
				wrong = append(wrong, fmt.Sprintf("net.ipv4.conf.%s.%s=%d (want %d)", ifc, name, v, a.want(name)))
			}
		}
	}
	if len(wrong) > 0 {
		sort.Strings(wrong)
		return Failed, ocfErrorf(OCFErrGeneric, "DRRealServer: VIPs on lo but the server would answer ARP for them: %s", strings.Join(wrong, ", "))
	}
	return Running, nil
}

// Validate checks the parameters (done by NewDRRealServer) and that the
// interfaces whose sysctls start would set exist.
func (a *DRRealServer) Validate(ctx context.Context) error {
	ifaces, err := a.ifaces()
	if err != nil {
		return err
	}
	for _, ifc := range ifaces {
		if _, err := a.opts.Conf.IPv4Conf(ifc, "arp_ignore"); err != nil {
			return ocfErrorf(OCFErrInstalled, "DRRealServer: %w", err)
		}
	}
	return nil
}

var (
	_ Agent     = (*DRRealServer)(nil)
	_ Validator = (*DRRealServer)(nil)
)
