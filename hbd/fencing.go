package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"lvsha/hbd/api"
	"lvsha/hbd/config"
	"lvsha/hbd/fence"
	"lvsha/hbd/rm"
)

// deviceCheckInterval is how often the device's status is checked after
// the first check at start (Heartbeat: every hour).
const deviceCheckInterval = time.Hour

// newFencer returns the STONITH device ha.cf configures for this node, or
// nil when none does.
func newFencer(o options, cfg *config.Config, node string, log *slog.Logger) *fence.Stonith {
	line, ok := cfg.HA.StonithDevice(node)
	if !ok {
		return nil
	}
	dev := fence.DeviceFrom(line, filepath.Join(cfg.Dir, "ha.cf"))
	s := &fence.Stonith{Device: dev, Timeout: o.stonithTimeout, Log: log.With("component", "stonith")}
	log.Info("STONITH device configured: a dead peer that may hold resources is reset before its groups are taken",
		"device", dev.String(), "retry", o.stonithRetry, "delay_if_not_preferred", o.stonithDelay)
	return s
}

// rmFencer adapts the device to the resource manager.
type rmFencer struct{ s *fence.Stonith }

func (f rmFencer) Reset(ctx context.Context, node string) (rm.FenceResult, string) {
	r := f.s.Reset(ctx, node)
	switch r.Outcome {
	case fence.OK:
		return rm.FenceOK, ""
	case fence.BadHost:
		return rm.FenceBadHost, r.Detail
	}
	return rm.FenceFailed, r.Detail
}

// checkDevice checks the device's status at start and every hour, as
// Heartbeat does; a failure is logged and shown by cl_status fencestatus.
func checkDevice(ctx context.Context, s *fence.Stonith) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_ = s.Status(cctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(deviceCheckInterval):
		}
	}
}

// fenceStatus assembles what cl_status fencestatus shows: the device,
// the machine's reset in progress (mgr may be nil: no groups, nothing is
// ever fenced) and the attempts' counts.
func fenceStatus(s *fence.Stonith, mgr *rm.Manager) api.FenceStatus {
	if s == nil {
		return api.FenceStatus{State: "none"}
	}
	out := api.FenceStatus{Configured: true, Device: s.Device.Type, Source: s.Device.Source, State: "idle",
		WaitsForOperator: s.Device.WaitsForOperator(), Results: map[string]uint64{}}
	st := s.Stats()
	for k, v := range st.Attempts {
		out.Results[k.Wire()] = v
	}
	if l := st.Last; l != nil {
		out.Last = &api.FenceAttempt{Node: l.Node, Result: l.Outcome.Wire(), ExitCode: l.ExitCode, Detail: l.Detail,
			At: l.Started, DurationMS: l.Took.Milliseconds()}
	}
	out.DeviceOK, out.DeviceCheckedAt, out.DeviceError = st.StatusOK, st.StatusAt, st.StatusErr
	if mgr == nil {
		return out
	}
	fs := mgr.FenceState()
	if fs.Node == "" {
		return out
	}
	out.Node, out.Since, out.Attempts = fs.Node, fs.Since, fs.Attempts
	switch {
	case fs.Running:
		out.State = "fencing"
	case fs.Delayed:
		out.State = "delayed"
	default:
		out.State = "retrying"
	}
	if !fs.NextAt.IsZero() {
		out.NextAttemptMS = max(time.Until(fs.NextAt).Milliseconds(), 0)
	}
	return out
}
