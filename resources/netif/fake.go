package netif

import (
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// Fake is an in-memory Net and Conf for tests (make it with NewFake). It keeps what the kernel
// keeps for the calls the agents make and answers with the same errors:
// a second AddAddr of an address is EEXIST, DelAddr of a missing one
// EADDRNOTAVAIL, an IPv4 label must fit in 15 characters (ip(8), not the
// kernel, wants it to start with the link's name), IPv6 labels are dropped. It differs on purpose in
// two ways: routes are only what the test adds (no prefix route follows
// an address), and duplicate address detection is a step: an IPv6
// address added without NoDAD is tentative for one listing, then settled,
// or failed if it is in Duplicates.
type Fake struct {
	mu     sync.Mutex
	links  []*fakeLink
	routes []Route
	conf   map[string]map[string]int // iface -> name -> value
	next   int

	// Duplicates are IPv6 addresses another node already holds.
	Duplicates map[netip.Addr]bool
	// Errs makes the named method ("AddAddr", "Routes", ...) fail with
	// the error, to test the callers' error paths.
	Errs map[string]error
	// Calls counts the calls by method name.
	Calls map[string]int
}

type fakeLink struct {
	Link
	addrs []*fakeAddr
}

type fakeAddr struct {
	Addr
	dadSteps int  // listings left while DAD runs
	dadDone  bool // DAD has settled (or never ran)
}

var (
	_ Net  = (*Fake)(nil)
	_ Conf = (*Fake)(nil)
)

// NewFake returns a Fake holding a loopback link lo (index 1, up, with
// 127.0.0.1/8 and ::1/128) and the settings of "all" and "default".
func NewFake() *Fake {
	f := &Fake{conf: map[string]map[string]int{"all": {}, "default": {}}, Duplicates: map[netip.Addr]bool{},
		Errs: map[string]error{}, Calls: map[string]int{}}
	lo := f.AddLink("lo", nil)
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.links[lo.Index-1]
	l.Loopback, l.Up = true, true
	l.addrs = []*fakeAddr{
		{Addr: Addr{Prefix: netip.MustParsePrefix("127.0.0.1/8"), Label: "lo"}},
		{Addr: Addr{Prefix: netip.MustParsePrefix("::1/128")}},
	}
	return f
}

// AddLink adds a link (down, no addresses) with its IPv4 settings, all 0.
func (f *Fake) AddLink(name string, mac net.HardwareAddr) Link {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	l := &fakeLink{Link: Link{Index: f.next, Name: name, HardwareAddr: mac}}
	f.links = append(f.links, l)
	f.conf[name] = map[string]int{}
	return l.Link
}

// DelLink removes a link, its addresses, its routes and its settings.
func (f *Fake) DelLink(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, l := range f.links {
		if l.Name == name {
			f.links = slices.Delete(f.links, i, i+1)
			f.routes = slices.DeleteFunc(f.routes, func(r Route) bool { return r.LinkIndex == l.Index })
			delete(f.conf, name)
			return
		}
	}
}

// AddRoute adds a route to the main table.
func (f *Fake) AddRoute(r Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, r)
}

// Has reports whether link holds the address with exactly that prefix
// length, and returns it.
func (f *Fake) Has(link string, p netip.Prefix) (Addr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byName(link)
	if l == nil {
		return Addr{}, false
	}
	for _, a := range l.addrs {
		if a.Prefix == p {
			return a.Addr, true
		}
	}
	return Addr{}, false
}

// call counts a call and returns the error set for it.
func (f *Fake) call(op string) error {
	f.Calls[op]++
	return f.Errs[op]
}

func (f *Fake) byName(name string) *fakeLink {
	for _, l := range f.links {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func (f *Fake) byIndex(i int) *fakeLink {
	for _, l := range f.links {
		if l.Index == i {
			return l
		}
	}
	return nil
}

func (f *Fake) link(l Link) (*fakeLink, error) {
	if fl := f.byIndex(l.Index); fl != nil {
		return fl, nil
	}
	return nil, fmt.Errorf("interface %s: %w (%w)", l.Name, ErrNoLink, syscall.ENODEV)
}

// LinkByName implements Net.
func (f *Fake) LinkByName(name string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("LinkByName"); err != nil {
		return Link{}, err
	}
	if l := f.byName(name); l != nil {
		return l.Link, nil
	}
	return Link{}, fmt.Errorf("interface %s: %w", name, ErrNoLink)
}

// LinkByIndex implements Net.
func (f *Fake) LinkByIndex(index int) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("LinkByIndex"); err != nil {
		return Link{}, err
	}
	if l := f.byIndex(index); l != nil {
		return l.Link, nil
	}
	return Link{}, fmt.Errorf("interface index %d: %w", index, ErrNoLink)
}

// Links implements Net.
func (f *Fake) Links() ([]Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Links"); err != nil {
		return nil, err
	}
	out := make([]Link, len(f.links))
	for i, l := range f.links {
		out[i] = l.Link
	}
	return out, nil
}

// SetUp implements Net.
func (f *Fake) SetUp(l Link) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("SetUp"); err != nil {
		return err
	}
	fl, err := f.link(l)
	if err != nil {
		return err
	}
	fl.Up = true
	return nil
}

func matches(p netip.Prefix, fam Family) bool {
	return fam == All || FamilyOf(p.Addr()) == fam
}

// Addrs implements Net.
func (f *Fake) Addrs(l Link, fam Family) ([]Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Addrs"); err != nil {
		return nil, err
	}
	fl, err := f.link(l)
	if err != nil {
		return nil, err
	}
	var out []Addr
	for _, a := range fl.addrs {
		if !matches(a.Prefix, fam) {
			continue
		}
		if !a.dadDone {
			if a.dadSteps > 0 {
				a.dadSteps--
			} else {
				// The kernel keeps a failed address, tentative and dadfailed.
				a.dadDone = true
				a.DADFailed = f.Duplicates[a.Prefix.Addr()]
				a.Tentative = a.DADFailed
			}
		}
		out = append(out, a.Addr)
	}
	return out, nil
}

// AddAddr implements Net.
func (f *Fake) AddAddr(l Link, a Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("AddAddr"); err != nil {
		return err
	}
	fl, err := f.link(l)
	if err != nil {
		return err
	}
	ip := a.Prefix.Addr()
	if !a.Prefix.IsValid() || ip.Zone() != "" {
		return fmt.Errorf("add %s to %s: %w", a.Prefix, l.Name, syscall.EINVAL)
	}
	for _, o := range fl.addrs {
		if o.Prefix.Addr() == ip && (ip.Is6() || o.Prefix.Bits() == a.Prefix.Bits()) {
			return fmt.Errorf("add %s to %s: %w", a.Prefix, l.Name, syscall.EEXIST)
		}
	}
	stored := &fakeAddr{Addr: a, dadDone: true}
	stored.Tentative, stored.DADFailed = false, false // state, not requests
	if ip.Is4() {
		if a.Label == "" {
			stored.Label = fl.Name
		}
		if len(stored.Label) > 15 {
			return fmt.Errorf("add %s to %s: label %q: %w", a.Prefix, l.Name, stored.Label, syscall.EINVAL)
		}
		stored.NoDAD = false
	} else {
		stored.Label, stored.Broadcast = "", netip.Addr{}
		if !a.NoDAD {
			stored.Tentative, stored.dadSteps, stored.dadDone = true, 1, false
		}
	}
	fl.addrs = append(fl.addrs, stored)
	return nil
}

// DelAddr implements Net.
func (f *Fake) DelAddr(l Link, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("DelAddr"); err != nil {
		return err
	}
	fl, err := f.link(l)
	if err != nil {
		return err
	}
	for i, a := range fl.addrs {
		if a.Prefix.Addr() == p.Addr() && a.Prefix.Bits() == p.Bits() {
			fl.addrs = slices.Delete(fl.addrs, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("delete %s from %s: %w", p, l.Name, syscall.EADDRNOTAVAIL)
}

// Routes implements Net.
func (f *Fake) Routes(fam Family) ([]Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Routes"); err != nil {
		return nil, err
	}
	var out []Route
	for _, r := range f.routes {
		if matches(r.Dst, fam) {
			out = append(out, r)
		}
	}
	return out, nil
}

// IPv4Conf implements Conf.
func (f *Fake) IPv4Conf(iface, name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("IPv4Conf"); err != nil {
		return 0, err
	}
	c, ok := f.conf[iface]
	if !ok {
		return 0, fmt.Errorf("read net.ipv4.conf.%s.%s: %w", iface, name, fs.ErrNotExist)
	}
	return c[name], nil
}

// SetIPv4Conf implements Conf.
func (f *Fake) SetIPv4Conf(iface, name string, v int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("SetIPv4Conf"); err != nil {
		return err
	}
	c, ok := f.conf[iface]
	if !ok {
		return fmt.Errorf("set net.ipv4.conf.%s.%s: %w", iface, name, fs.ErrNotExist)
	}
	c[name] = v
	return nil
}
