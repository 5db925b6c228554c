// Package netif is the kernel's network configuration as the resource
// agents use it: links, their addresses, the main routing table and the
// per-interface IPv4 settings. Kernel is the real one (netlink and
// /proc/sys); Fake keeps the same state in memory, so the agents' logic is
// tested without root and the namespace tests prove Kernel.
package netif

import (
	"errors"
	"net"
	"net/netip"
)

// Family selects addresses or routes by IP version.
type Family int

// Families.
const (
	All Family = 0
	V4  Family = 4
	V6  Family = 6
)

// FamilyOf returns the family of an address.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return V4
	}
	return V6
}

// Link is a network interface.
type Link struct {
	Index        int
	Name         string
	HardwareAddr net.HardwareAddr
	Loopback     bool
	Up           bool
}

// Interface is the link as the net package describes it, which is what
// the announcer (package garp) sends on.
func (l Link) Interface() *net.Interface {
	ifi := &net.Interface{Index: l.Index, Name: l.Name, HardwareAddr: l.HardwareAddr}
	if l.Loopback {
		ifi.Flags |= net.FlagLoopback
	}
	if l.Up {
		ifi.Flags |= net.FlagUp
	}
	return ifi
}

// Forever is the kernel's infinite address lifetime.
const Forever = int(^uint32(0))

// Addr is an address on a link.
type Addr struct {
	// Prefix is the address with its prefix length (not masked).
	Prefix netip.Prefix
	// Label is the IPv4 label (NIC or NIC:alias); the kernel keeps none
	// for IPv6. Empty when adding means the link's name.
	Label string
	// Broadcast is the IPv4 broadcast address; the zero Addr is none.
	Broadcast netip.Addr
	// NoDAD and NoPrefixRoute are the IFA_F_ flags of the same names.
	NoDAD, NoPrefixRoute bool
	// ValidLft and PreferredLft are IPv6 lifetimes in seconds (Forever
	// for none); both 0 leaves the kernel's default, forever.
	ValidLft, PreferredLft int
	// Tentative and DADFailed are read back: duplicate address detection
	// is still running, or found the address in use elsewhere.
	Tentative, DADFailed bool
}

// Scope is a route's scope.
type Scope uint8

// Scopes (RT_SCOPE_*).
const (
	ScopeUniverse Scope = 0
	ScopeLink     Scope = 253
	ScopeHost     Scope = 254
)

// Route is a route of the main table.
type Route struct {
	Dst       netip.Prefix // 0.0.0.0/0 or ::/0 for a default route
	LinkIndex int          // 0 for a multipath route
	Nexthops  []int        // link indexes of a multipath route's hops
	Scope     Scope
}

// ErrNoLink is wrapped by lookups of a link that does not exist.
var ErrNoLink = errors.New("no such network interface")

// Net is what the agents do with links, addresses and routes. Errors wrap
// the kernel's errno, so callers test them with errors.Is: AddAddr of an
// address already there gives syscall.EEXIST, DelAddr of one that is not
// syscall.EADDRNOTAVAIL, and a missing privilege syscall.EPERM.
type Net interface {
	LinkByName(name string) (Link, error)
	LinkByIndex(index int) (Link, error)
	Links() ([]Link, error)
	SetUp(l Link) error
	Addrs(l Link, f Family) ([]Addr, error)
	AddAddr(l Link, a Addr) error
	DelAddr(l Link, p netip.Prefix) error
	// Routes lists the main table.
	Routes(f Family) ([]Route, error)
}

// Conf reads and writes net.ipv4.conf.IFACE.NAME (IFACE may be "all" or
// "default"). A setting that does not exist (no such interface) gives an
// error wrapping fs.ErrNotExist.
type Conf interface {
	IPv4Conf(iface, name string) (int, error)
	SetIPv4Conf(iface, name string, v int) error
}
