//go:build vm

// These tests need a kernel with IPVS and root: they run inside the qemu VM
// that tests/vm boots (go test ./tests/vm builds this file with -tags vm and
// runs the binary there). The table each step leaves is read back twice, by
// our Services()/Dests() and by parsing `ipvsadm -Ln`, and both must equal
// the expected one.

package ipvs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

// helperEnv, when set, turns the test binary into a helper process run in
// a network namespace (ip netns exec): "serve NAME" answers HTTP on :80
// with NAME; "get URL N" makes N requests, each on a new connection, and
// prints each answer on a line.
const helperEnv = "LVSHA_VM_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(strings.Fields(h)))
	}
	os.Exit(m.Run())
}

func helper(args []string) int {
	switch {
	case len(args) == 2 && args[0] == "serve":
		ln, err := net.Listen("tcp", ":80")
		if err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			return 1
		}
		fmt.Println("ready")
		name := args[1]
		err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, name)
		}))
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	case len(args) >= 2 && args[0] == "load": // vm_ldird_test.go
		return loadHelper(args[1:])
	case len(args) >= 3 && args[0] == "echo": // vm_failover_test.go
		return echoHelper(args[1:])
	case len(args) == 2 && args[0] == "hello":
		return helloHelper(args[1])
	case len(args) >= 2 && args[0] == "session":
		return sessionHelper(args[1:])
	case len(args) == 3 && args[0] == "get":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "get:", err)
			return 2
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; i < n; i++ {
			resp, err := c.Get(args[1])
			if err != nil {
				fmt.Println("error:", err)
				continue
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				fmt.Println("error:", err)
				continue
			}
			fmt.Println(strings.TrimSpace(string(b)))
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", args)
	return 2
}

// entry is one service and its reals, the unit of comparison.
type entry struct {
	svc   dataplane.Service
	dests []dataplane.Dest
}

// render prints a table in one canonical form, so the expected table, our
// read-back and ipvsadm's can be compared as text (and diffs read easily).
func render(t []entry) string {
	var lines []string
	for _, e := range t {
		s := e.svc
		line := s.Key() + " " + s.Scheduler
		if s.SchedFlags != 0 {
			line += " flags " + s.SchedFlags.String()
		}
		if s.OnePacket {
			line += " ops"
		}
		if s.Persistent > 0 {
			mask := s.PersistentMask
			if (!s.IPv6 && mask == 32) || mask == 128 {
				mask = 0
			}
			line += fmt.Sprintf(" persistent %d mask /%d", int(s.Persistent/time.Second), mask)
		}
		ds := append([]dataplane.Dest(nil), e.dests...)
		sort.Slice(ds, func(i, j int) bool { return ds[i].Key() < ds[j].Key() })
		for _, d := range ds {
			line += fmt.Sprintf("\n  -> %s %s %d", d.Key(), d.Method, d.Weight)
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// ours reads the table back through the Dataplane.
func ours(t *testing.T, v *IPVS) []entry {
	t.Helper()
	svcs, err := v.Services()
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	var out []entry
	for _, s := range svcs {
		ds, err := v.Dests(s)
		if err != nil {
			t.Fatalf("Dests(%s): %v", s.Key(), err)
		}
		out = append(out, entry{s, ds})
	}
	return out
}

// ipvsadmTable parses `ipvsadm -Ln`.
func ipvsadmTable(t *testing.T) []entry {
	t.Helper()
	out, err := exec.Command("ipvsadm", "-Ln").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm -Ln: %v: %s", err, out)
	}
	tab, err := parseIpvsadm(string(out))
	if err != nil {
		t.Fatalf("parse ipvsadm -Ln: %v\n%s", err, out)
	}
	return tab
}

func parseIpvsadm(text string) ([]entry, error) {
	var out []entry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "IP" || f[0] == "Prot" || (len(f) > 1 && f[1] == "RemoteAddress:Port") {
			continue
		}
		if f[0] == "->" {
			if len(out) == 0 || len(f) < 4 {
				return nil, fmt.Errorf("bad real server line %q", line)
			}
			ap, err := netip.ParseAddrPort(f[1])
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			w, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			method := map[string]string{"Route": "gate", "Masq": "masq", "Tunnel": "ipip", "Local": "local"}[f[2]]
			if method == "" {
				return nil, fmt.Errorf("line %q: unknown forward %q", line, f[2])
			}
			e := &out[len(out)-1]
			e.dests = append(e.dests, dataplane.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: w, Method: method})
			continue
		}
		var s dataplane.Service
		rest := f[2:]
		switch f[0] {
		case "TCP", "UDP":
			s.Protocol = strings.ToLower(f[0])
			ap, err := netip.ParseAddrPort(f[1])
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			s.Addr, s.Port, s.IPv6 = ap.Addr(), ap.Port(), ap.Addr().Is6()
		case "FWM":
			s.Protocol = "fwm"
			m, err := strconv.ParseUint(f[1], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			s.FWMark = uint32(m)
			if len(rest) > 0 && rest[0] == "IPv6" {
				s.IPv6 = true
				rest = rest[1:]
			}
		default:
			return nil, fmt.Errorf("unknown line %q", line)
		}
		if len(rest) == 0 {
			return nil, fmt.Errorf("line %q: no scheduler", line)
		}
		s.Scheduler = rest[0]
		for i := 1; i < len(rest); i++ {
			switch tok := rest[i]; {
			case strings.HasPrefix(tok, "(") && strings.HasSuffix(tok, ")"):
				// Scheduler flags, named as the scheduler names them:
				// "(sh-fallback,sh-port)", "(flag-1,flag-3)".
				f, err := dataplane.ParseSchedFlags(s.Scheduler, tok[1:len(tok)-1])
				if err != nil {
					return nil, fmt.Errorf("line %q: %w", line, err)
				}
				s.SchedFlags = f
			case tok == "ops":
				s.OnePacket = true
			case tok == "persistent":
				i++
				n, err := strconv.Atoi(rest[i])
				if err != nil {
					return nil, fmt.Errorf("line %q: %w", line, err)
				}
				s.Persistent = time.Duration(n) * time.Second
			case tok == "mask":
				i++
				if s.IPv6 {
					n, err := strconv.Atoi(rest[i])
					if err != nil {
						return nil, fmt.Errorf("line %q: %w", line, err)
					}
					s.PersistentMask = n
				} else {
					a, err := netip.ParseAddr(rest[i])
					if err != nil {
						return nil, fmt.Errorf("line %q: %w", line, err)
					}
					b := a.As4()
					s.PersistentMask, _ = net.IPMask(b[:]).Size()
				}
			}
		}
		out = append(out, entry{svc: s})
	}
	return out, nil
}

// check compares our read-back and ipvsadm's with want.
func check(t *testing.T, v *IPVS, step string, want []entry) {
	t.Helper()
	w := render(want)
	if got := render(ours(t, v)); got != w {
		t.Fatalf("%s: Services/Dests read back\n%s\nwant\n%s", step, got, w)
	}
	if got := render(ipvsadmTable(t)); got != w {
		t.Fatalf("%s: ipvsadm -Ln shows\n%s\nwant\n%s", step, got, w)
	}
}

func mustNew(t *testing.T) *IPVS {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("in the VM IPVS must be there: %v", err)
	}
	v, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		v.Close()
		if out, err := exec.Command("ipvsadm", "-C").CombinedOutput(); err != nil {
			t.Errorf("ipvsadm -C: %v: %s", err, out)
		}
	})
	return v
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func a4(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestTable(t *testing.T) {
	v := mustNew(t)
	var want []entry
	find := func(key string) *entry {
		for i := range want {
			if want[i].svc.Key() == key {
				return &want[i]
			}
		}
		t.Fatalf("no service %s in the expected table", key)
		return nil
	}

	// 1. Services: every scheduler, tcp/udp/fwm, v4/v6, persistence with
	// and without a netmask.
	for i, sched := range Schedulers() {
		want = append(want, entry{svc: dataplane.Service{Protocol: "tcp", Addr: a4("10.10.0.1"), Port: uint16(8000 + i), Scheduler: sched}})
	}
	want = append(want,
		entry{svc: dataplane.Service{Protocol: "udp", Addr: a4("10.10.0.2"), Port: 53, Scheduler: "rr", Persistent: 300 * time.Second, PersistentMask: 24}},
		entry{svc: dataplane.Service{Protocol: "tcp", Addr: a4("10.10.0.2"), Port: 443, Scheduler: "sh", Persistent: 600 * time.Second}},
		entry{svc: dataplane.Service{Protocol: "fwm", FWMark: 1, Scheduler: "wlc"}},
		entry{svc: dataplane.Service{Protocol: "tcp", Addr: a4("2001:db8:10::1"), Port: 80, IPv6: true, Scheduler: "wrr"}},
		entry{svc: dataplane.Service{Protocol: "udp", Addr: a4("2001:db8:10::1"), Port: 53, IPv6: true, Scheduler: "lc", Persistent: time.Minute, PersistentMask: 64}},
		entry{svc: dataplane.Service{Protocol: "fwm", FWMark: 7, IPv6: true, Scheduler: "nq", Persistent: time.Hour, PersistentMask: 48}},
		// Scheduler flags (ipvsadm -b) and one-packet scheduling (-o):
		// ldirectord.cf's schedflags and ops.
		entry{svc: dataplane.Service{Protocol: "tcp", Addr: a4("10.10.0.3"), Port: 80, Scheduler: "sh", SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2}},
		entry{svc: dataplane.Service{Protocol: "udp", Addr: a4("10.10.0.3"), Port: 53, Scheduler: "wrr", SchedFlags: dataplane.SchedFlag3, OnePacket: true}},
	)
	for _, e := range want {
		if err := v.AddService(e.svc); err != nil {
			t.Fatalf("AddService: %v", err)
		}
	}
	check(t, v, "services added", want)

	// 2. Reals: each method, weights up to the 16-bit maximum, v4 and v6.
	add := func(key string, ds ...dataplane.Dest) {
		t.Helper()
		e := find(key)
		for _, d := range ds {
			if err := v.AddDest(e.svc, d); err != nil {
				t.Fatalf("AddDest: %v", err)
			}
			e.dests = append(e.dests, d)
		}
	}
	add("tcp 10.10.0.1:8000",
		dataplane.Dest{Addr: a4("10.20.0.1"), Port: 80, Weight: 1, Method: "gate"},
		dataplane.Dest{Addr: a4("10.20.0.2"), Port: 8080, Weight: 5, Method: "masq"},
		dataplane.Dest{Addr: a4("10.20.0.3"), Port: 80, Weight: 65535, Method: "ipip"})
	add("udp 10.10.0.2:53", dataplane.Dest{Addr: a4("10.20.0.4"), Port: 53, Weight: 2, Method: "masq"})
	add("fwm 1", dataplane.Dest{Addr: a4("10.20.0.1"), Port: 0, Weight: 3, Method: "gate"})
	add("tcp [2001:db8:10::1]:80",
		dataplane.Dest{Addr: a4("2001:db8:20::1"), Port: 80, Weight: 1, Method: "gate"},
		dataplane.Dest{Addr: a4("2001:db8:20::2"), Port: 8080, Weight: 3, Method: "masq"},
		dataplane.Dest{Addr: a4("2001:db8:20::3"), Port: 80, Weight: 4, Method: "ipip"})
	add("fwm 7 ipv6", dataplane.Dest{Addr: a4("2001:db8:20::1"), Port: 0, Weight: 1, Method: "gate"})
	check(t, v, "reals added", want)

	// 3. Quiescent: weight 0 keeps each real's forwarding method (moby/ipvs
	// would reset it to masq if the method were not sent).
	for _, key := range []string{"tcp 10.10.0.1:8000", "tcp [2001:db8:10::1]:80"} {
		e := find(key)
		for i := range e.dests {
			e.dests[i].Weight = 0
			if err := v.UpdateDest(e.svc, e.dests[i]); err != nil {
				t.Fatalf("UpdateDest: %v", err)
			}
		}
	}
	check(t, v, "reals quiescent", want)
	// And back, changing a method on the way.
	e := find("tcp 10.10.0.1:8000")
	e.dests[0].Weight, e.dests[1].Weight, e.dests[1].Method = 10, 7, "gate"
	for _, d := range e.dests[:2] {
		if err := v.UpdateDest(e.svc, d); err != nil {
			t.Fatalf("UpdateDest: %v", err)
		}
	}
	check(t, v, "reals re-weighted", want)

	// 4. Service edits: scheduler, persistence on/off, timeout and mask.
	edit := func(key string, fn func(s *dataplane.Service)) {
		t.Helper()
		e := find(key)
		fn(&e.svc)
		if err := v.UpdateService(e.svc); err != nil {
			t.Fatalf("UpdateService: %v", err)
		}
	}
	edit("tcp 10.10.0.1:8000", func(s *dataplane.Service) { s.Scheduler = "wlc" })
	edit("udp 10.10.0.2:53", func(s *dataplane.Service) { s.Persistent, s.PersistentMask = 120*time.Second, 16 })
	edit("tcp 10.10.0.2:443", func(s *dataplane.Service) { s.Persistent = 0 })
	edit("tcp [2001:db8:10::1]:80", func(s *dataplane.Service) { s.Persistent, s.PersistentMask = 30*time.Second, 64 })
	edit("fwm 1", func(s *dataplane.Service) { s.Scheduler, s.Persistent, s.PersistentMask = "sh", 10*time.Second, 8 })
	edit("tcp 10.10.0.3:80", func(s *dataplane.Service) { s.SchedFlags = dataplane.SchedFlag2 })
	edit("udp 10.10.0.3:53", func(s *dataplane.Service) { s.SchedFlags, s.OnePacket = 0, false })
	edit("udp 10.10.0.2:53", func(s *dataplane.Service) { s.OnePacket = true })
	check(t, v, "services edited", want)

	// 5. Errors carry dataplane's sentinels (and the errno).
	svc := find("tcp 10.10.0.1:8000").svc
	rd := find("tcp 10.10.0.1:8000").dests[0]
	missing := dataplane.Service{Protocol: "tcp", Addr: a4("10.10.9.9"), Port: 1, Scheduler: "rr"}
	noReal := dataplane.Dest{Addr: a4("10.20.9.9"), Port: 80, Weight: 1, Method: "gate"}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"AddService twice", v.AddService(svc), dataplane.ErrExist},
		{"AddDest twice", v.AddDest(svc, rd), dataplane.ErrExist},
		{"UpdateService missing", v.UpdateService(missing), dataplane.ErrNotExist},
		{"DelService missing", v.DelService(missing), dataplane.ErrNotExist},
		{"AddDest to missing service", v.AddDest(missing, noReal), dataplane.ErrNotExist},
		{"UpdateDest missing", v.UpdateDest(svc, noReal), dataplane.ErrNotExist},
		{"DelDest missing", v.DelDest(svc, noReal), dataplane.ErrNotExist},
		{"DelDest in missing service", v.DelDest(missing, noReal), dataplane.ErrNotExist},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := v.Dests(missing); !errors.Is(err, dataplane.ErrNotExist) {
		t.Errorf("Dests of missing service: %v", err)
	}
	bad := missing
	bad.Scheduler = "nosuch"
	if err := v.AddService(bad); err == nil || errors.Is(err, dataplane.ErrNotExist) || !strings.Contains(err.Error(), "ip_vs_nosuch") {
		t.Errorf("unknown scheduler: %v (want a scheduler error, not ErrNotExist)", err)
	}
	check(t, v, "after failed calls", want)

	// 6. Deletion: a real, then services (their reals go with them).
	e = find("tcp [2001:db8:10::1]:80")
	if err := v.DelDest(e.svc, e.dests[1]); err != nil {
		t.Fatalf("DelDest: %v", err)
	}
	e.dests = append(e.dests[:1], e.dests[2:]...)
	check(t, v, "real deleted", want)
	for len(want) > 0 {
		if err := v.DelService(want[0].svc); err != nil {
			t.Fatalf("DelService: %v", err)
		}
		want = want[1:]
		if len(want)%4 == 0 {
			check(t, v, "services deleted", want)
		}
	}
	check(t, v, "empty", nil)
}

// TestIpvsadmMadeTable reads a table ipvsadm wrote: proves the netmask byte
// order and family handling against the reference tool, not only against
// our own writes.
func TestIpvsadmMadeTable(t *testing.T) {
	v := mustNew(t)
	run(t, "ipvsadm", "-A", "-t", "10.30.0.1:80", "-s", "rr", "-p", "60", "-M", "255.255.255.0")
	run(t, "ipvsadm", "-a", "-t", "10.30.0.1:80", "-r", "10.40.0.1:8080", "-m", "-w", "7")
	run(t, "ipvsadm", "-a", "-t", "10.30.0.1:80", "-r", "10.40.0.2:80", "-i", "-w", "2")
	run(t, "ipvsadm", "-A", "-u", "[2001:db8:30::1]:53", "-s", "dh", "-p", "30", "-M", "64")
	run(t, "ipvsadm", "-a", "-u", "[2001:db8:30::1]:53", "-r", "[2001:db8:40::1]:53", "-g", "-w", "1")
	run(t, "ipvsadm", "-A", "-f", "5", "-s", "lblcr")
	want := []entry{
		{svc: dataplane.Service{Protocol: "tcp", Addr: a4("10.30.0.1"), Port: 80, Scheduler: "rr", Persistent: time.Minute, PersistentMask: 24},
			dests: []dataplane.Dest{
				{Addr: a4("10.40.0.1"), Port: 8080, Weight: 7, Method: "masq"},
				{Addr: a4("10.40.0.2"), Port: 80, Weight: 2, Method: "ipip"}}},
		{svc: dataplane.Service{Protocol: "udp", Addr: a4("2001:db8:30::1"), Port: 53, IPv6: true, Scheduler: "dh", Persistent: 30 * time.Second, PersistentMask: 64},
			dests: []dataplane.Dest{{Addr: a4("2001:db8:40::1"), Port: 53, Weight: 1, Method: "gate"}}},
		{svc: dataplane.Service{Protocol: "fwm", FWMark: 5, Scheduler: "lblcr"}},
	}
	check(t, v, "ipvsadm's table", want)
	// Read-back values go straight back in: an update with what we read is
	// a no-op for the kernel.
	svcs, err := v.Services()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if err := v.UpdateService(s); err != nil {
			t.Fatalf("UpdateService(read-back %s): %v", s.Key(), err)
		}
	}
	want[0].dests[0].Weight = 0
	if err := v.UpdateDest(want[0].svc, want[0].dests[0]); err != nil {
		t.Fatal(err)
	}
	check(t, v, "updated with read-back values", want)
}

// TestPerNamespace: a handle opened in another network namespace sees that
// namespace's (empty) table, and what it adds stays there.
func TestPerNamespace(t *testing.T) {
	v := mustNew(t)
	root := dataplane.Service{Protocol: "tcp", Addr: a4("10.50.0.1"), Port: 80, Scheduler: "rr"}
	if err := v.AddService(root); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		// The thread is left locked and in the new namespace: Go ends it
		// with the goroutine instead of reusing it.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		n, err := New()
		if err != nil {
			done <- err
			return
		}
		defer n.Close()
		svcs, err := n.Services()
		if err != nil || len(svcs) != 0 {
			done <- fmt.Errorf("new namespace table: %v %v", svcs, err)
			return
		}
		done <- n.AddService(dataplane.Service{Protocol: "udp", Addr: a4("10.50.0.2"), Port: 53, Scheduler: "wrr"})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	check(t, v, "root namespace", []entry{{svc: root}})
}

// TestEndToEnd sends HTTP through a VIP to two real servers in their own
// network namespaces, with NAT and with direct routing.
//
//	client ns "c"  eth0 10.1.0.2 ---- dc 10.1.0.1 + VIP 10.1.0.100  (VM root ns: the director)
//	real ns "r1"   eth0 10.0.1.2 ---- dr1 10.0.1.1
//	real ns "r2"   eth0 10.0.2.2 ---- dr2 10.0.2.1
func TestEndToEnd(t *testing.T) {
	v := mustNew(t)
	setup := `set -e
sysctl -qw net.ipv4.ip_forward=1
# DR: replies come back from the reals with the VIP (a local address here)
# as source, through the director: accept them.
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
sysctl -qw net.ipv4.conf.all.accept_local=1
ip netns add c
ip link add dc type veth peer name eth0 netns c
ip addr add 10.1.0.1/24 dev dc
ip addr add 10.1.0.100/32 dev dc
ip link set dc up
ip -n c link set lo up
ip -n c addr add 10.1.0.2/24 dev eth0
ip -n c link set eth0 up
ip -n c route add default via 10.1.0.1
for i in 1 2; do
  ip netns add r$i
  ip link add dr$i type veth peer name eth0 netns r$i
  ip addr add 10.0.$i.1/24 dev dr$i
  ip link set dr$i up
  ip -n r$i link set lo up
  ip -n r$i addr add 10.0.$i.2/24 dev eth0
  ip -n r$i link set eth0 up
  ip -n r$i route add default via 10.0.$i.1
done
`
	run(t, "bash", "-c", setup)
	t.Cleanup(func() {
		exec.Command("bash", "-c", "ip netns del c; ip netns del r1; ip netns del r2; ip link del dc; ip link del dr1; ip link del dr2").Run()
	})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r1", "r2"} {
		cmd := exec.Command("ip", "netns", "exec", name, self)
		cmd.Env = append(os.Environ(), helperEnv+"=serve "+name)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			t.Fatalf("server %s: %q %v", name, line, err)
		}
	}
	get := func(n int) map[string]int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", "c", self)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=get http://10.1.0.100/ %d", helperEnv, n))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("client: %v: %s", err, out)
		}
		seen := map[string]int{}
		for _, l := range strings.Fields(string(out)) {
			seen[l]++
		}
		return seen
	}
	vip := dataplane.Service{Protocol: "tcp", Addr: a4("10.1.0.100"), Port: 80, Scheduler: "rr"}

	t.Run("nat", func(t *testing.T) {
		if err := v.AddService(vip); err != nil {
			t.Fatal(err)
		}
		defer v.DelService(vip)
		r1 := dataplane.Dest{Addr: a4("10.0.1.2"), Port: 80, Weight: 1, Method: "masq"}
		r2 := dataplane.Dest{Addr: a4("10.0.2.2"), Port: 80, Weight: 1, Method: "masq"}
		for _, d := range []dataplane.Dest{r1, r2} {
			if err := v.AddDest(vip, d); err != nil {
				t.Fatal(err)
			}
		}
		if seen := get(6); seen["r1"] != 3 || seen["r2"] != 3 {
			t.Fatalf("round robin over NAT: %v, want r1:3 r2:3", seen)
		}
		// Quiescent: weight 0 takes r2 out of new connections.
		r2.Weight = 0
		if err := v.UpdateDest(vip, r2); err != nil {
			t.Fatal(err)
		}
		if seen := get(4); seen["r1"] != 4 {
			t.Fatalf("r2 quiescent: %v, want r1:4", seen)
		}
	})

	t.Run("dr", func(t *testing.T) {
		run(t, "bash", "-c", `set -e
for i in 1 2; do
  ip -n r$i addr add 10.1.0.100/32 dev lo
  ip netns exec r$i sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
done`)
		if err := v.AddService(vip); err != nil {
			t.Fatal(err)
		}
		defer v.DelService(vip)
		for _, d := range []dataplane.Dest{
			{Addr: a4("10.0.1.2"), Port: 80, Weight: 1, Method: "gate"},
			{Addr: a4("10.0.2.2"), Port: 80, Weight: 1, Method: "gate"},
		} {
			if err := v.AddDest(vip, d); err != nil {
				t.Fatal(err)
			}
		}
		check(t, v, "dr table", []entry{{svc: vip, dests: []dataplane.Dest{
			{Addr: a4("10.0.1.2"), Port: 80, Weight: 1, Method: "gate"},
			{Addr: a4("10.0.2.2"), Port: 80, Weight: 1, Method: "gate"}}}})
		if seen := get(6); seen["r1"] != 3 || seen["r2"] != 3 {
			t.Fatalf("round robin over DR: %v, want r1:3 r2:3", seen)
		}
	})
}
