package director

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// forwardName is ipvsadm -L's word for a forwarding method.
func forwardName(m string) string {
	switch m {
	case "masq":
		return "Masq"
	case "ipip":
		return "Tunnel"
	}
	return "Route"
}

func addrPort(a netip.Addr, p uint16) string { return netip.AddrPortFrom(a, p).String() }

// WriteTable prints a dataplane's whole table in the layout of
// `ipvsadm -L -n` (every service, ours or not). conns, if not nil, gives
// active/inactive connection counts per Service.Key()+" "+Dest.Key().
func WriteTable(w io.Writer, dp dataplane.Dataplane, header string, conns map[string][2]int64) error {
	svcs, err := dp.Services()
	if err != nil {
		return fmt.Errorf("read services: %w", err)
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintln(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
	for _, s := range svcs {
		sched := s.Scheduler
		if sched == "" {
			sched = "wlc"
		}
		var line string
		if s.Protocol == "fwm" {
			line = fmt.Sprintf("FWM  %d %s", s.FWMark, sched)
			if s.IPv6 {
				line += " IPv6"
			}
		} else {
			line = fmt.Sprintf("%s  %s %s", strings.ToUpper(s.Protocol), addrPort(s.Addr, s.Port), sched)
		}
		if s.Persistent > 0 {
			line += fmt.Sprintf(" persistent %d", int(s.Persistent/time.Second))
			if s.PersistentMask != 0 {
				if s.IPv6 || s.Addr.Is6() {
					line += fmt.Sprintf(" mask %d", s.PersistentMask)
				} else {
					p := netip.PrefixFrom(netip.IPv4Unspecified(), s.PersistentMask)
					line += " mask " + prefixMask(p.Bits())
				}
			}
		}
		fmt.Fprintln(w, line)
		ds, err := dp.Dests(s)
		if err != nil {
			return fmt.Errorf("read servers of %s: %w", s.Key(), err)
		}
		for _, d := range ds {
			c := conns[s.Key()+" "+d.Key()]
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", d.Key(), forwardName(d.Method), d.Weight, c[0], c[1])
		}
	}
	return nil
}

func prefixMask(bits int) string {
	var m uint32
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&255, m>>8&255, m&255)
}

// WriteStatus prints the table (WriteTable) and then, as ldird's extension,
// one line per configured real and fallback with its health:
//
//	Health (ldird): state, weight in the table, last check result, latency
//	TCP  10.0.0.100:80 (quiescent=yes, fallback 127.0.0.1:80 inactive)
//	  real 10.0.1.2:80 up weight=1 checks=12 failures=0 last=ok latency=1.2ms detail="200 OK"
func (d *Director) WriteStatus(w io.Writer) error {
	var conns map[string][2]int64
	if d.o.Conns != nil {
		conns = d.o.Conns()
	}
	if err := WriteTable(w, d.dp, d.o.Header, conns); err != nil {
		return err
	}
	pub := d.published.Load()
	cfg := pub.cfg
	if cfg == nil {
		return nil
	}
	table := map[string]map[string]dataplane.Dest{}
	if svcs, err := d.dp.Services(); err == nil {
		for _, s := range svcs {
			if ds, err := d.dp.Dests(s); err == nil {
				m := map[string]dataplane.Dest{}
				for _, x := range ds {
					m[x.Key()] = x
				}
				table[s.Key()] = m
			}
		}
	}
	opts := d.p.opt.DesiredOptions
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Health (ldird): real state, weight in the table, last check")
	for _, v := range cfg.Virtuals {
		svc := ServiceFor(v)
		inTable := table[svc.Key()]
		fb := "none"
		if v.Fallback != nil {
			fd := DestFor(v, v.Fallback, 1, opts)
			state := "inactive"
			if _, ok := inTable[fd.Key()]; ok {
				state = "active"
			}
			fb = fd.Key() + " " + state
		}
		head := strings.ToUpper(v.Protocol) + "  " + vname(v)
		if inTable == nil {
			head += " (not in table)"
		}
		fmt.Fprintf(w, "%s checktype=%s quiescent=%s fallback=%s\n", head, checkName(v), yesNo(v.Quiescent), fb)
		for _, r := range v.Reals {
			dst := DestFor(v, r, r.Weight, opts)
			k := v.CheckKey(r)
			st, _ := d.runner.Status(k)
			state := st.State.String()
			if pub.maint[k] {
				state = "maintenance"
			}
			if e, ok := pub.admin[adminKey{Virtual: v.Key(), Real: r.Key()}]; ok {
				state += "," + string(e.State) // by an administrator: "up,drain"
			}
			weight := "absent"
			if x, ok := inTable[dst.Key()]; ok {
				weight = fmt.Sprint(x.Weight)
			}
			last := "none"
			if st.Checks > 0 {
				last = "fail"
				if st.Last.OK {
					last = "ok"
				}
			}
			detail := st.Last.Detail
			if !st.Last.OK && st.Last.Err != nil {
				detail = st.Last.Err.Error()
			}
			fmt.Fprintf(w, "  real %s %s weight=%s checks=%d failures=%d last=%s latency=%s detail=%q\n",
				dst.Key(), state, weight, st.Checks, st.Failures, last, st.Last.Latency.Round(time.Microsecond), detail)
		}
	}
	return nil
}

func checkName(v *config.Virtual) string {
	switch v.Check.Type {
	case config.CheckNegotiate:
		return "negotiate/" + v.Check.Service
	case config.CheckCombined:
		return fmt.Sprintf("%d/%s", v.Check.Connects, v.Check.Service)
	}
	return string(v.Check.Type)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// State returns the check state of a real (for tests and tools).
func (d *Director) State(v *config.Virtual, r *config.Real) check.Status {
	st, _ := d.runner.Status(v.CheckKey(r))
	return st
}
