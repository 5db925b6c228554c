package director

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"lvsha/ldird/config"
)

// vname is ldirectord's get_virtual: "ip:port" or the fwmark.
func vname(v *config.Virtual) string {
	if v.Protocol == "fwm" {
		return strconv.FormatUint(uint64(v.FWMark), 10)
	}
	return v.Addr.String()
}

// fallbackArg is the VIP:PORT argument of fallbackcommand (":0" for a
// fwmark, whose server ldirectord leaves undefined).
func fallbackArg(v *config.Virtual) string {
	if v.Protocol == "fwm" {
		return ":0"
	}
	return v.Addr.String()
}

// report logs an applied op of a table pass with ldirectord's wording and
// sends the alert ldirectord would send for it. up says, per virtual key,
// whether some real is up.
func (p *planner) report(now time.Time, op Op, up map[string]bool) {
	v := op.Virtual
	if v == nil { // a retired service
		if op.Kind == DelService {
			p.log.Info("Purged virtual server (start): "+op.Service.Key(), "virtual", op.Service.Key())
		}
		return
	}
	V := vname(v)
	R := op.Dest.Key()
	switch op.Kind {
	case AddService:
		p.log.Info("Added virtual server: "+V, "virtual", V, "scheduler", op.Service.Scheduler)
		return
	case UpdateService:
		p.log.Info("Changed virtual server: "+V, "virtual", V, "scheduler", op.Service.Scheduler)
		return
	case DelService:
		return
	}
	tag := "real"
	if op.Fallback {
		tag = "fallback"
	}
	var msg string
	down := false
	switch {
	case op.Kind == DelDest && op.Real == nil && !op.Fallback:
		msg = fmt.Sprintf("Purged real server (start): %s (%s)", R, V)
	case op.Kind == DelDest:
		msg = fmt.Sprintf("Deleted %s server: %s (%s)", tag, R, V)
		down = tag == "real"
	case op.Dest.Weight == 0 && tag == "real":
		msg = fmt.Sprintf("Quiescent %s server: %s (%s) (Weight set to 0)", tag, R, V)
		down = true
	case op.Kind == AddDest:
		msg = fmt.Sprintf("Added %s server: %s (%s) (Weight set to %d)", tag, R, V, op.Dest.Weight)
	default:
		msg = fmt.Sprintf("Restored %s server: %s (%s) (Weight set to %d)", tag, R, V, op.Dest.Weight)
	}
	lvl := slog.LevelInfo
	if down {
		lvl = slog.LevelWarn
	}
	p.log.Log(context.Background(), lvl, msg, "virtual", V, "server", R, "role", tag, "weight", op.Dest.Weight,
		"op", op.Kind.String(), "any_real_up", up[v.Key()])
	p.alert(now, v, msg, R, down)
}

// reportStop logs an op of cleanstop (ldirectord's ld_stop) and its alert.
func (p *planner) reportStop(now time.Time, op Op, err error) {
	v := op.Virtual
	V := vname(v)
	switch op.Kind {
	case DelDest:
		R := op.Dest.Key()
		if err != nil {
			p.log.Error("cleanstop: delete server", "virtual", V, "real", R, "err", err)
			return
		}
		msg := fmt.Sprintf("Purged real server (stop): %s (%s)", R, V)
		p.log.Info(msg, "virtual", V, "real", R)
		p.alert(now, v, msg, R, false)
	case DelService:
		if err != nil {
			p.log.Error("cleanstop: delete virtual", "virtual", V, "err", err)
			return
		}
		p.log.Info("Purged virtual server (stop): "+V, "virtual", V)
	}
}
