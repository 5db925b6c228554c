package director

import (
	"errors"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
)

// Validate builds every check of cfg once, so problems the checks refuse
// (an unknown service, a receive pattern Go cannot compile, ...) are
// reported with file:line before anything runs.
func Validate(cfg *config.Config) error {
	var errs config.Errors
	seen := map[string]bool{}
	for _, v := range cfg.Virtuals {
		for _, r := range v.Reals {
			k := v.CheckKey(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			if _, err := check.New(SpecFor(v, r)); err != nil {
				errs = append(errs, &config.Error{File: cfg.Path, Line: r.Line, Msg: err.Error(), Err: err})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// SpecFor is the check of real r of virtual v.
func SpecFor(v *config.Virtual, r *config.Real) check.Spec {
	c := v.Check
	return check.Spec{
		Type: string(c.Type), Combined: c.Connects, Service: c.Service, Protocol: v.Protocol,
		Request: r.Request, Receive: r.Receive, VirtualHost: c.VirtualHost, HTTPMethod: c.HTTPMethod,
		Login: c.Login, Passwd: c.Passwd, Database: c.Database, Secret: c.Secret,
		CheckPort: int(c.CheckPort), CheckCount: c.CheckCount, CheckCommand: c.CheckCommand,
		Virtual:        check.Target{IP: v.Addr.Addr(), Port: v.Addr.Port(), Protocol: v.Protocol, FwMark: v.FWMark},
		ConnectTimeout: c.CheckTimeout, NegotiateTimeout: c.NegotiateTimeout,
	}
}

// StartupBound is how long Start waits for the first check round: the
// longest deadline any check has, plus a margin. Checks enforce their own
// deadlines, so this only guards against a checker that ignores them.
func StartupBound(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, v := range cfg.Virtuals {
		t := v.Check.CheckTimeout
		if v.Check.Type == config.CheckNegotiate || v.Check.Type == config.CheckCombined {
			t = max(t, v.Check.NegotiateTimeout)
		}
		if v.Check.Type == config.CheckPing {
			t *= time.Duration(max(1, v.Check.CheckCount))
		}
		longest = max(longest, t)
	}
	return longest + time.Second
}

// seedStates marks the checks whose real is in the table with weight > 0
// (by config.CheckKey): they start up, so a restart does not take down a
// real that is merely unchecked yet (ldirectord's ld_start). actual is
// the table as read, by service key.
func seedStates(cfg *config.Config, actual map[string]ServiceState, o DesiredOptions) map[string]bool {
	seeds := map[string]bool{}
	for _, v := range cfg.Virtuals {
		as, ok := actual[ServiceFor(v).Key()]
		if !ok {
			continue
		}
		inTable := make(map[string]bool, len(as.Dests))
		for _, d := range as.Dests {
			if d.Weight > 0 {
				inTable[d.Key()] = true
			}
		}
		for _, r := range v.Reals {
			if inTable[DestFor(v, r, 0, o).Key()] {
				seeds[v.CheckKey(r)] = true
			}
		}
	}
	return seeds
}

// checkEntry is one scheduled check and what identifies its configuration.
type checkEntry struct {
	rc check.RealConfig
	fp fingerprint
}

type fingerprint struct {
	spec     check.Spec
	target   check.Target
	interval time.Duration
	failures int
	maintDir string
}

// buildChecks makes the check of every (virtual, real), one per
// config.CheckKey as ldirectord checks a real once per round however many
// virtuals list it. A check that seeds marks starts Up.
func (d *Director) buildChecks(cfg *config.Config, seeds map[string]bool) (map[string]checkEntry, error) {
	out := map[string]checkEntry{}
	var errs []error
	for _, v := range cfg.Virtuals {
		for _, r := range v.Reals {
			k := v.CheckKey(r)
			if _, ok := out[k]; ok {
				continue
			}
			spec := SpecFor(v, r)
			c, err := d.o.NewChecker(spec)
			if err != nil {
				errs = append(errs, &config.Error{File: cfg.Path, Line: r.Line, Msg: err.Error(), Err: err})
				continue
			}
			fp := fingerprint{spec: spec, target: check.Target{IP: r.Addr, Port: r.Port, Protocol: v.Protocol},
				interval: v.Check.CheckInterval, failures: v.Check.FailureCount, maintDir: cfg.Global.MaintenanceDir}
			if fp.maintDir != "" {
				c = &maintChecker{inner: c, dir: fp.maintDir, port: r.Port, lookup: d.o.LookupAddr}
			}
			rc := check.RealConfig{Key: k, Target: fp.target, Checker: c, Interval: fp.interval, FailureCount: fp.failures}
			if seeds[k] {
				rc.Initial = check.Up
			}
			if d.o.TuneReal != nil {
				d.o.TuneReal(&rc)
			}
			out[k] = checkEntry{rc: rc, fp: fp}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Each check's results reach its history and its quiet sinks through
	// the Runner's Tag (onEvent); made only once the configuration is
	// known good.
	for k, e := range out {
		e.rc.Tag = d.hist.entry(k)
		out[k] = e
	}
	return out, nil
}
