package ipvs

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"lvsha/ldird/dataplane"
)

const testFamily = 0x2a

// kernel answers IPVS daemon commands as ip_vs_ctl.c does: one daemon per
// role (EEXIST, ESRCH), ENODEV for an unknown interface, defaults filled
// in and maxlen clamped; old (before Linux 4.3) parses only state,
// interface and sync id and reports only those.
type kernel struct {
	t       *testing.T
	old     bool
	ifaces  map[string]bool
	running map[uint32]map[uint16][]byte // state -> attribute -> raw value
	cmds    []uint8
}

func newKernel(t *testing.T, old bool) *kernel {
	return &kernel{t: t, old: old, ifaces: map[string]bool{"eth0": true, "eth1": true}, running: map[uint32]map[uint16][]byte{}}
}

func (k *kernel) ipvs() *IPVS {
	return &IPVS{sc: &syncConn{c: nltest.Dial(k.answer), family: testFamily}}
}

func (k *kernel) answer(reqs []netlink.Message) ([]netlink.Message, error) {
	if len(reqs) != 1 {
		k.t.Fatalf("%d messages in one request", len(reqs))
	}
	m := reqs[0]
	if m.Header.Type != testFamily || len(m.Data) < 4 || m.Data[1] != genlVersion {
		k.t.Fatalf("bad request header %+v % x", m.Header, m.Data)
	}
	cmd := m.Data[0]
	k.cmds = append(k.cmds, cmd)
	attrs := map[uint16][]byte{}
	if len(m.Data) > 4 {
		top, err := netlink.UnmarshalAttributes(m.Data[4:])
		if err != nil {
			k.t.Fatal(err)
		}
		for _, a := range top {
			if a.Type&^netlink.Nested != cmdAttrDaemon {
				k.t.Fatalf("unexpected top-level attribute %d", a.Type)
			}
			if a.Type&netlink.Nested == 0 {
				k.t.Fatalf("daemon attribute not flagged nested")
			}
			nested, err := netlink.UnmarshalAttributes(a.Data)
			if err != nil {
				k.t.Fatal(err)
			}
			for _, n := range nested {
				if k.old && n.Type > daemonAttrSyncID {
					continue // nla_parse ignores types above the policy's max
				}
				attrs[n.Type] = n.Data
			}
		}
	}
	fail := func(errno syscall.Errno) ([]netlink.Message, error) { return nltest.Error(int(errno), reqs) }
	switch cmd {
	case cmdNewDaemon:
		if m.Header.Flags&netlink.Acknowledge == 0 {
			k.t.Fatal("NEW_DAEMON without an ack request")
		}
		st, ifn, id := attrs[daemonAttrState], attrs[daemonAttrMcastIfn], attrs[daemonAttrSyncID]
		if st == nil || ifn == nil || id == nil {
			return fail(syscall.EINVAL)
		}
		state := nativeU32(st)
		if k.running[state] != nil {
			return fail(syscall.EEXIST)
		}
		if !k.ifaces[strings.TrimRight(string(ifn), "\x00")] {
			return fail(syscall.ENODEV)
		}
		d := map[uint16][]byte{daemonAttrState: st, daemonAttrMcastIfn: ifn, daemonAttrSyncID: id}
		if !k.old {
			set := func(t uint16, def []byte) {
				if v, ok := attrs[t]; ok {
					d[t] = v
				} else {
					d[t] = def
				}
			}
			set(daemonAttrMcastPort, u16(8848))
			set(daemonAttrMcastTTL, []byte{1})
			if g6, ok := attrs[daemonAttrMcastGroup6]; ok {
				d[daemonAttrMcastGroup6] = g6
			} else {
				set(daemonAttrMcastGroup, []byte{224, 0, 0, 81})
			}
			ml := uint16(1472)
			if v, ok := attrs[daemonAttrSyncMaxLen]; ok {
				ml = max(nativeU16(v), 1024) // a backup's floor
			}
			d[daemonAttrSyncMaxLen] = u16(ml)
		}
		k.running[state] = d
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID}, Data: make([]byte, 4)}}, nil
	case cmdDelDaemon:
		st := attrs[daemonAttrState]
		if st == nil {
			return fail(syscall.EINVAL)
		}
		if k.running[nativeU32(st)] == nil {
			return fail(syscall.ESRCH)
		}
		delete(k.running, nativeU32(st))
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID}, Data: make([]byte, 4)}}, nil
	case cmdGetDaemon:
		if m.Header.Flags&netlink.Dump != netlink.Dump {
			k.t.Fatal("GET_DAEMON without NLM_F_DUMP (the kernel has only dumpit)")
		}
		var out []netlink.Message
		for _, state := range []uint32{stateBackup, stateMaster} { // backup first: the caller orders
			d := k.running[state]
			if d == nil {
				continue
			}
			var nested []netlink.Attribute
			for t := uint16(1); t <= daemonAttrMcastTTL; t++ {
				if v, ok := d[t]; ok {
					nested = append(nested, netlink.Attribute{Type: t, Data: v})
				}
			}
			b := nltest.MustMarshalAttributes([]netlink.Attribute{{Type: netlink.Nested | cmdAttrDaemon, Data: nltest.MustMarshalAttributes(nested)}})
			out = append(out, netlink.Message{Header: netlink.Header{Type: testFamily, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data: append([]byte{cmdNewDaemon, genlVersion, 0, 0}, b...)})
		}
		// A dump: every part flagged multi, then NLMSG_DONE, also when empty.
		for i := range out {
			out[i].Header.Flags |= netlink.Multi
		}
		done := netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: m.Header.Sequence, PID: m.Header.PID}, Data: make([]byte, 4)}
		return append(out, done), nil
	}
	k.t.Fatalf("unexpected command %d", cmd)
	return nil, nil
}

func nativeU32(b []byte) uint32 {
	ad, _ := netlink.NewAttributeDecoder(nltest.MustMarshalAttributes([]netlink.Attribute{{Type: 1, Data: b}}))
	ad.Next()
	return ad.Uint32()
}

func nativeU16(b []byte) uint16 {
	ad, _ := netlink.NewAttributeDecoder(nltest.MustMarshalAttributes([]netlink.Attribute{{Type: 1, Data: b}}))
	ad.Next()
	return ad.Uint16()
}

func u16(v uint16) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(1, v)
	b, _ := ae.Encode()
	return b[4:6]
}

func TestSyncDaemonsCurrentKernel(t *testing.T) {
	k := newKernel(t, false)
	v := k.ipvs()
	if ds, err := v.SyncDaemons(); err != nil || len(ds) != 0 {
		t.Fatalf("none running: %v %v", ds, err)
	}
	master := dataplane.SyncDaemon{Role: dataplane.SyncMaster, Interface: "eth0", SyncID: 7}
	backup := dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "eth1", SyncID: 7, MaxLen: 600,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3}
	if err := v.StartSyncDaemon(master); err != nil {
		t.Fatal(err)
	}
	if err := v.StartSyncDaemon(backup); err != nil {
		t.Fatal(err)
	}
	ds, err := v.SyncDaemons()
	if err != nil {
		t.Fatal(err)
	}
	want := []dataplane.SyncDaemon{
		{Role: dataplane.SyncMaster, Interface: "eth0", SyncID: 7, MaxLen: 1472, Group: dataplane.DefaultSyncGroup, Port: 8848, TTL: 1},
		{Role: dataplane.SyncBackup, Interface: "eth1", SyncID: 7, MaxLen: 1024, Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3},
	}
	if len(ds) != 2 || ds[0] != want[0] || ds[1] != want[1] {
		t.Fatalf("read back\n%v\nwant\n%v", ds, want)
	}
	if err := v.StartSyncDaemon(master); !errors.Is(err, dataplane.ErrExist) || !errors.Is(err, syscall.EEXIST) {
		t.Errorf("second master: %v, want ErrExist and EEXIST", err)
	}
	if err := v.StopSyncDaemon(dataplane.SyncMaster); err != nil {
		t.Fatal(err)
	}
	if err := v.StopSyncDaemon(dataplane.SyncMaster); !errors.Is(err, dataplane.ErrNotExist) {
		t.Errorf("stop a stopped master: %v, want ErrNotExist", err)
	}
	if ds, _ := v.SyncDaemons(); len(ds) != 1 || ds[0].Role != dataplane.SyncBackup {
		t.Errorf("after stopping the master: %v", ds)
	}
	err = v.StartSyncDaemon(dataplane.SyncDaemon{Role: dataplane.SyncMaster, Interface: "eth9"})
	if !errors.Is(err, syscall.ENODEV) || !strings.Contains(err.Error(), `no interface "eth9"`) {
		t.Errorf("unknown interface: %v", err)
	}
	v6 := dataplane.SyncDaemon{Role: dataplane.SyncMaster, Interface: "eth0", Group: netip.MustParseAddr("ff02::81")}
	if err := v.StartSyncDaemon(v6); err != nil {
		t.Fatalf("IPv6 group: %v", err)
	}
	if ds, _ := v.SyncDaemons(); ds[0].Group != v6.Group {
		t.Errorf("IPv6 group read back as %v", ds[0].Group)
	}
}

func TestSyncDaemonRefused(t *testing.T) {
	v := newKernel(t, false).ipvs()
	for _, d := range []dataplane.SyncDaemon{
		{Role: "primary", Interface: "eth0"},
		{Role: dataplane.SyncMaster, Interface: ""},
		{Role: dataplane.SyncMaster, Interface: "a-very-long-interface"},
		{Role: dataplane.SyncMaster, Interface: "eth0", Group: netip.MustParseAddr("10.0.0.1")},
	} {
		if err := v.StartSyncDaemon(d); err == nil {
			t.Errorf("%+v accepted", d)
		}
	}
}

// TestSyncDaemonsOldKernel: before Linux 4.3 the kernel ignores maxlen,
// group, port and ttl and reports none of them. A daemon without them
// starts; one with them is stopped again and refused.
func TestSyncDaemonsOldKernel(t *testing.T) {
	k := newKernel(t, true)
	v := k.ipvs()
	plain := dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "eth0", SyncID: 1}
	if err := v.StartSyncDaemon(plain); err != nil {
		t.Fatal(err)
	}
	ds, err := v.SyncDaemons()
	if err != nil || len(ds) != 1 || ds[0] != plain {
		t.Fatalf("read back %v %v, want %v", ds, err, plain)
	}
	withPort := dataplane.SyncDaemon{Role: dataplane.SyncMaster, Interface: "eth0", SyncID: 1, Port: 9000}
	err = v.StartSyncDaemon(withPort)
	if err == nil || !strings.Contains(err.Error(), "Linux 4.3") {
		t.Fatalf("port on an old kernel: %v", err)
	}
	if got := k.cmds[len(k.cmds)-3:]; got[0] != cmdNewDaemon || got[1] != cmdGetDaemon || got[2] != cmdDelDaemon {
		t.Errorf("commands %v, want NEW, GET (read back), DEL", got)
	}
	if ds, _ := v.SyncDaemons(); len(ds) != 1 || ds[0].Role != dataplane.SyncBackup {
		t.Errorf("the refused master was left running: %v", ds)
	}
}

func TestParseConns(t *testing.T) {
	const syncText = `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP 0A500A0A C35A 0A500064 1B58 0A50010B 1B58 ESTABLISHED SYNC       899
UDP 0A500A0A 0035 0A500064 0035 0A50010C 0035 UDP         LOCAL      297
IP  0A500A0A 0000 00000001 0000 0A50010B 0000 NONE        LOCAL      359
TCP 2001:0db8:0000:0000:0000:0000:0000:0002 D431 2001:0db8:0000:0000:0000:0000:0000:0064 0050 2001:0db8:0001:0000:0000:0000:0000:000b 1F90 FIN_WAIT    LOCAL       60
`
	var got []dataplane.Conn
	if err := parseConns(strings.NewReader(syncText), func(c dataplane.Conn) { got = append(got, c) }); err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	want := []dataplane.Conn{
		{Protocol: "TCP", Client: ap("10.80.10.10:50010"), Virtual: ap("10.80.0.100:7000"), Real: ap("10.80.1.11:7000"), State: "ESTABLISHED", Expires: 899e9, Synced: true},
		{Protocol: "UDP", Client: ap("10.80.10.10:53"), Virtual: ap("10.80.0.100:53"), Real: ap("10.80.1.12:53"), State: "UDP", Expires: 297e9},
		{Protocol: "IP", Client: ap("10.80.10.10:0"), Virtual: ap("0.0.0.1:0"), Real: ap("10.80.1.11:0"), State: "NONE", Expires: 359e9},
		{Protocol: "TCP", Client: ap("[2001:db8::2]:54321"), Virtual: ap("[2001:db8::64]:80"), Real: ap("[2001:db8:1::b]:8080"), State: "FIN_WAIT", Expires: 60e9},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// ip_vs_conn: no origin column, PE name and data may follow.
	const plain = `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP 0A500A0A C35A 0A500064 1B58 0A50010B 1B58 ESTABLISHED     899
UDP 0A500A0A 13C4 0A500064 13C4 0A50010B 13C4 UDP             170 sip 1234@host
`
	got = nil
	if err := parseConns(strings.NewReader(plain), func(c dataplane.Conn) { got = append(got, c) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Synced || got[1].Expires != 170e9 || got[1].Real != ap("10.80.1.11:5060") {
		t.Errorf("ip_vs_conn: %+v", got)
	}
	for _, bad := range []string{
		"garbage\n",
		"Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\nTCP 0A500A0A C35A\n",
		"Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\nTCP 0A500A0 C35A 0A500064 1B58 0A50010B 1B58 ESTABLISHED SYNC 1\n",
		"Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\nTCP 0A500A0A C35A 0A500064 1B58 0A50010B 1B58 ESTABLISHED ELSEWHERE 1\n",
		"Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\nTCP 0A500A0A XYZ 0A500064 1B58 0A50010B 1B58 ESTABLISHED SYNC 1\n",
	} {
		if err := parseConns(strings.NewReader(bad), func(dataplane.Conn) {}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
