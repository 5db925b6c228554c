package config

import "lvsha/ldird/dataplane"

// schedFinish checks a virtual's schedflags and ops as ipvsadm checks them
// when ldirectord passes them on (-b, -o): ldirectord reads any word, and
// ipvsadm then refuses the virtual at run time; ldird refuses the file, at
// the line. The userspace proxy always falls back to another real when the
// one sh (or dh) picks is unavailable, and schedules per connection or
// client flow, so it takes sh-fallback (flag-1 with sh) and nothing else.
func (p *parser) schedFinish(vs *vstate) {
	v := vs.v
	if v.SchedFlags != "" {
		f, err := dataplane.ParseSchedFlags(v.Scheduler, v.SchedFlags)
		switch {
		case err != nil:
			p.r.errorf(vs.schedFlagsLine, "schedflags: %v", err)
		case p.cfg.Global.Dataplane == DataplaneUserspace && (v.Scheduler != "sh" || f != dataplane.SchedFlag1):
			p.r.errorf(vs.schedFlagsLine, "schedflags=%s: the userspace dataplane takes only sh-fallback with scheduler=sh (its sh always falls back; it has no other scheduler flags)", v.SchedFlags)
		default:
			v.Flags = f
		}
	}
	if v.OPS {
		switch {
		case v.Protocol != "udp":
			p.r.errorf(vs.opsLine, "ops=yes: one-packet scheduling is only for UDP virtual services (ipvsadm -o), not %s", v.Protocol)
		case p.cfg.Global.Dataplane == DataplaneUserspace:
			p.r.errorf(vs.opsLine, "ops=yes: the userspace dataplane relays each client's datagrams as one flow and has no one-packet scheduling; remove ops or use dataplane = ipvs")
		}
	}
}
