package ipvs

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"syscall"
	"time"

	mobyipvs "github.com/moby/ipvs"

	"lvsha/ldird/dataplane"
)

// Kernel constants (include/uapi/linux/ip_vs.h) that moby/ipvs does not export.
const (
	svcFlagPersistent = 0x0001 // IP_VS_SVC_F_PERSISTENT
	svcFlagHashed     = 0x0002 // IP_VS_SVC_F_HASHED: set by the kernel on every service it holds
	svcFlagOnePacket  = 0x0004 // IP_VS_SVC_F_ONEPACKET: one-packet scheduling (ipvsadm -o)
	svcFlagSchedShift = 3      // IP_VS_SVC_F_SCHED1..3 are 0x0008, 0x0010, 0x0020 (ipvsadm -b)
	svcFlagSchedMask  = 0x0038
	maxWeight         = 65535  // ipvsadm's limit; moby/ipvs reads weights back as 16 bits
	defaultScheduler  = "wlc"  // what ipvsadm uses when -s is not given
	defaultMethod     = "gate" // what ipvsadm uses when no forwarding option is given
)

// Schedulers returns the scheduler names ipvsadm knows and ldirectord
// accepts; each is the kernel module ip_vs_<name>.
func Schedulers() []string {
	return []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq"}
}

// toService converts our Service to moby/ipvs's. Validation happens here so
// bad input fails with a message instead of a bare EINVAL from the kernel.
func toService(s dataplane.Service) (*mobyipvs.Service, error) {
	out := &mobyipvs.Service{SchedName: s.Scheduler}
	if out.SchedName == "" {
		out.SchedName = defaultScheduler
	}
	v6 := s.IPv6
	switch s.Protocol {
	case "tcp", "udp":
		if !s.Addr.IsValid() {
			return nil, fmt.Errorf("service %s: no virtual address", s.Key())
		}
		if s.Addr.Zone() != "" {
			return nil, fmt.Errorf("service %s: IPVS cannot use a zoned address", s.Key())
		}
		// The address decides the family; a v4-mapped v6 is treated as v4
		// because that is how the kernel would read it back.
		addr := s.Addr.Unmap()
		v6 = addr.Is6()
		out.Address = net.IP(addr.AsSlice())
		out.Port = s.Port
		out.Protocol = syscall.IPPROTO_TCP
		if s.Protocol == "udp" {
			out.Protocol = syscall.IPPROTO_UDP
		}
	case "fwm":
		if s.FWMark == 0 {
			return nil, fmt.Errorf("service %s: fwmark must not be 0", s.Key())
		}
		out.FWMark = s.FWMark
	default:
		return nil, fmt.Errorf("service %s: unknown protocol %q (want tcp, udp or fwm)", s.Key(), s.Protocol)
	}
	out.AddressFamily = syscall.AF_INET
	if v6 {
		out.AddressFamily = syscall.AF_INET6
	}
	if s.Persistent < 0 {
		return nil, fmt.Errorf("service %s: negative persistence %v", s.Key(), s.Persistent)
	}
	if s.Persistent > 0 {
		out.Flags |= svcFlagPersistent
		// The kernel counts whole seconds; round up so 500ms still persists.
		secs := (s.Persistent + time.Second - 1) / time.Second
		if secs > 1<<31 {
			return nil, fmt.Errorf("service %s: persistence %v too long", s.Key(), s.Persistent)
		}
		out.Timeout = uint32(secs)
	}
	if s.OnePacket {
		if s.Protocol != "udp" {
			return nil, fmt.Errorf("service %s: one-packet scheduling is only for UDP services", s.Key())
		}
		out.Flags |= svcFlagOnePacket
	}
	out.Flags |= uint32(s.SchedFlags) << svcFlagSchedShift & svcFlagSchedMask
	mask := 0
	if s.Persistent > 0 {
		mask = s.PersistentMask // without persistence the mask means nothing: keep it canonical
	}
	nm, err := netmaskToKernel(mask, v6)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", s.Key(), err)
	}
	out.Netmask = nm
	return out, nil
}

// fromService converts a service the kernel reported back to ours.
func fromService(in *mobyipvs.Service) (dataplane.Service, error) {
	var s dataplane.Service
	switch in.AddressFamily {
	case syscall.AF_INET:
	case syscall.AF_INET6:
		s.IPv6 = true
	default:
		return s, fmt.Errorf("ipvs service with unknown address family %d", in.AddressFamily)
	}
	if in.FWMark != 0 {
		s.Protocol = "fwm"
		s.FWMark = in.FWMark
	} else {
		switch in.Protocol {
		case syscall.IPPROTO_TCP:
			s.Protocol = "tcp"
		case syscall.IPPROTO_UDP:
			s.Protocol = "udp"
		case syscall.IPPROTO_SCTP:
			s.Protocol = "sctp" // not one we create, but another tool may have
		default:
			return s, fmt.Errorf("ipvs service with unknown protocol %d", in.Protocol)
		}
		a, ok := netip.AddrFromSlice(in.Address)
		if !ok {
			return s, fmt.Errorf("ipvs service with bad address %v", in.Address)
		}
		s.Addr = a.Unmap()
		s.Port = in.Port
	}
	s.Scheduler = in.SchedName
	s.OnePacket = in.Flags&svcFlagOnePacket != 0
	s.SchedFlags = dataplane.SchedFlags(in.Flags & svcFlagSchedMask >> svcFlagSchedShift)
	// The kernel sets the hashed bit on every service it holds; it is not ours.
	if (in.Flags&^svcFlagHashed)&svcFlagPersistent != 0 {
		s.Persistent = time.Duration(in.Timeout) * time.Second
		mask, err := netmaskFromKernel(in.Netmask, s.IPv6)
		if err != nil {
			return s, fmt.Errorf("service %s: %w", s.Key(), err)
		}
		s.PersistentMask = mask
	}
	return s, nil
}

// netmaskToKernel encodes a persistence prefix length as moby/ipvs sends it.
// IPv4: the kernel wants the mask as a big-endian u32, but moby/ipvs writes
// the attribute in host order, so the value is the mask's bytes read in host
// order (a /24 is 0x00ffffff on little-endian). IPv6: the kernel wants the
// prefix length itself, 1..128. 0 means a full-length mask (one client per
// entry), as for ipvsadm without -M.
func netmaskToKernel(prefix int, v6 bool) (uint32, error) {
	bitsLen := 32
	if v6 {
		bitsLen = 128
	}
	if prefix < 0 || prefix > bitsLen {
		return 0, fmt.Errorf("persistent netmask /%d out of range 0..%d", prefix, bitsLen)
	}
	if prefix == 0 {
		prefix = bitsLen
	}
	if v6 {
		return uint32(prefix), nil
	}
	return binary.NativeEndian.Uint32(net.CIDRMask(prefix, 32)), nil
}

// netmaskFromKernel is the inverse of netmaskToKernel; a full-length mask
// reads back as 0 so it compares equal to the default.
func netmaskFromKernel(nm uint32, v6 bool) (int, error) {
	if v6 {
		if nm < 1 || nm > 128 {
			return 0, fmt.Errorf("ipv6 persistent netmask %d out of range 1..128", nm)
		}
		if nm == 128 {
			return 0, nil
		}
		return int(nm), nil
	}
	be := make([]byte, 4)
	binary.NativeEndian.PutUint32(be, nm)
	u := binary.BigEndian.Uint32(be)
	ones := bits.LeadingZeros32(^u)
	if ones < 32 && u<<ones != 0 {
		return 0, fmt.Errorf("ipv4 persistent netmask %s is not a prefix", net.IP(be))
	}
	if ones == 32 {
		return 0, nil
	}
	return ones, nil
}

// methodFlags maps ldirectord/ipvsadm forwarding names to connection flags.
func methodFlags(method string) (uint32, error) {
	switch method {
	case "gate", "":
		return mobyipvs.ConnectionFlagDirectRoute, nil
	case "masq":
		return mobyipvs.ConnectionFlagMasq, nil
	case "ipip":
		return mobyipvs.ConnectionFlagTunnel, nil
	}
	return 0, fmt.Errorf("unknown forwarding method %q (want gate, masq or ipip)", method)
}

// methodName maps kernel connection flags back to a forwarding name. Local
// and bypass are never set by us but can be by ipvsadm, so name them.
func methodName(flags uint32) string {
	switch flags & mobyipvs.ConnectionFlagFwdMask {
	case mobyipvs.ConnectionFlagMasq:
		return "masq"
	case mobyipvs.ConnectionFlagLocalNode:
		return "local"
	case mobyipvs.ConnectionFlagTunnel:
		return "ipip"
	case mobyipvs.ConnectionFlagDirectRoute:
		return "gate"
	case mobyipvs.ConnFwdBypass:
		return "bypass"
	}
	return fmt.Sprintf("fwd%d", flags&mobyipvs.ConnectionFlagFwdMask)
}

// toDest converts our Dest for a service of the given family. moby/ipvs
// sends no destination family, so the kernel takes the service's: a real
// of the other family cannot be expressed and is refused here.
func toDest(d dataplane.Dest, v6 bool) (*mobyipvs.Destination, error) {
	if !d.Addr.IsValid() {
		return nil, fmt.Errorf("real server %s: no address", d.Key())
	}
	addr := d.Addr.Unmap()
	if addr.Is6() != v6 {
		return nil, fmt.Errorf("real server %s: address family differs from the service's", d.Key())
	}
	if d.Weight < 0 || d.Weight > maxWeight {
		return nil, fmt.Errorf("real server %s: weight %d out of range 0..%d", d.Key(), d.Weight, maxWeight)
	}
	flags, err := methodFlags(d.Method)
	if err != nil {
		return nil, fmt.Errorf("real server %s: %w", d.Key(), err)
	}
	fam := uint16(syscall.AF_INET)
	if v6 {
		fam = syscall.AF_INET6
	}
	return &mobyipvs.Destination{
		Address:         net.IP(addr.AsSlice()),
		Port:            d.Port,
		Weight:          d.Weight,
		ConnectionFlags: flags,
		AddressFamily:   fam,
	}, nil
}

// fromDest converts a real server the kernel reported back.
func fromDest(in *mobyipvs.Destination) (dataplane.Dest, error) {
	a, ok := netip.AddrFromSlice(in.Address)
	if !ok {
		return dataplane.Dest{}, fmt.Errorf("ipvs real server with bad address %v", in.Address)
	}
	return dataplane.Dest{
		Addr:   a.Unmap(),
		Port:   in.Port,
		Weight: in.Weight,
		Method: methodName(in.ConnectionFlags),
	}, nil
}
