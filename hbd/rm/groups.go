package rm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"lvsha/resources"
)

// StopFailure says what to do when a resource cannot be stopped and is
// still running after every retry: the peer cannot safely start it.
type StopFailure string

const (
	// StopFailureReboot reboots the node at once, as Heartbeat's
	// ResourceManager does (RecoverFromFailedStop: reboot -nf), so the
	// peer's takeover is safe. The default.
	StopFailureReboot StopFailure = "reboot"
	// StopFailureExit makes hbd exit without sending shutdone; the peer
	// declares it dead after deadtime and takes over. The resource may
	// still be running here: use only where the resource cannot conflict.
	StopFailureExit StopFailure = "exit"
	// StopFailureIgnore logs and carries on (the group is reported failed).
	StopFailureIgnore StopFailure = "ignore"
)

// ParseStopFailure reads the -on-stop-failure flag.
func ParseStopFailure(s string) (StopFailure, error) {
	switch v := StopFailure(s); v {
	case StopFailureReboot, StopFailureExit, StopFailureIgnore:
		return v, nil
	}
	return "", fmt.Errorf("unknown stop failure action %q (want reboot, exit or ignore)", s)
}

// Executor starts and stops groups as ResourceManager's takegroup and
// givegroup do. It drives resources.Agent, the one interface every
// resource kind (script, LSB, OCF, native) implements; unit tests give it
// fakes.
type Executor struct {
	Groups map[string][]resources.Agent // by group key, in haresources order
	Log    *slog.Logger
	// StopRetries is HA_STOPRETRYMAX (10): attempts before a stop is
	// declared failed; StopRetryDelay the pause between them (1 s).
	StopRetries    int
	StopRetryDelay time.Duration
	// OnStopFailure runs when a resource is still running after every
	// stop attempt (reboot, exit or log; see StopFailure).
	OnStopFailure func(group string, r resources.Agent, err error)
}

// ErrUnknownGroup is returned for a key that is not in haresources.
var ErrUnknownGroup = errors.New("unknown resource group")

// Take starts a group left to right, skipping resources already running.
// When a start fails, the whole group is stopped again and the error
// returned ("Giving up resources due to failure of X").
func (e *Executor) Take(ctx context.Context, key string) error {
	rs, ok := e.Groups[key]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownGroup, key)
	}
	for _, r := range rs {
		if running, err := owned(ctx, r); err == nil && running {
			e.Log.Debug("resource already running", "group", key, "resource", r.String())
			continue
		}
		e.Log.Info(fmt.Sprintf("Running %s start", r), "group", key)
		if err := r.Start(ctx); err != nil {
			e.Log.Error(fmt.Sprintf("Giving up resources due to failure of %s", r), "group", key, "err", err)
			if gerr := e.Give(ctx, key); gerr != nil {
				e.Log.Error("stopping the failed group", "group", key, "err", gerr)
			}
			return fmt.Errorf("start %s: %w", r, err)
		}
	}
	return nil
}

// Give stops a group right to left. Each stop is retried StopRetries times;
// a resource that still runs afterwards goes to OnStopFailure. A failing
// stop of a resource that no longer runs is only a warning (not
// LSB-compliant), as in ResourceManager.
func (e *Executor) Give(ctx context.Context, key string) error {
	rs, ok := e.Groups[key]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownGroup, key)
	}
	var errs []error
	for _, r := range slices.Backward(rs) {
		if err := e.stop(ctx, key, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// owned is Heartbeat's we_own_resource: a resource is ours when its status
// is not stopped. A failed state counts as running, so that it is stopped
// rather than assumed gone.
func owned(ctx context.Context, r resources.Agent) (bool, error) {
	st, err := r.Status(ctx)
	if err != nil && st != resources.Failed {
		return false, err
	}
	return st != resources.Stopped, nil
}

func (e *Executor) stop(ctx context.Context, key string, r resources.Agent) error {
	tries := max(e.StopRetries, 1)
	var err error
	for i := 0; i < tries; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(e.StopRetryDelay):
			}
		}
		e.Log.Info(fmt.Sprintf("Running %s stop", r), "group", key, "attempt", i+1)
		if err = r.Stop(ctx); err == nil {
			return nil
		}
		e.Log.Error(fmt.Sprintf("Return code from %s stop", r), "group", key, "err", err)
	}
	running, serr := owned(ctx, r)
	if serr == nil && !running {
		e.Log.Warn(fmt.Sprintf("Resource %s stop failed but it is not running: probably not LSB-compliant", r), "group", key)
		return nil
	}
	err = fmt.Errorf("stop %s failed %d times: %w", r, tries, err)
	e.Log.Error("Resource STOP failure", "group", key, "resource", r.String(), "err", err)
	if e.OnStopFailure != nil {
		e.OnStopFailure(key, r, err)
	}
	return err
}

// Announce re-announces the running resources of a group that can (its
// addresses), left to right; errors are joined, none stops the others.
func (e *Executor) Announce(ctx context.Context, key string) error {
	rs, ok := e.Groups[key]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownGroup, key)
	}
	var errs []error
	for _, r := range rs {
		an, ok := r.(resources.Announcer)
		if !ok {
			continue // nothing to announce (not an address)
		}
		if err := an.Announce(ctx); err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// Running reports whether any resource of the group runs.
func (e *Executor) Running(ctx context.Context, key string) bool {
	for _, r := range e.Groups[key] {
		if ok, err := owned(ctx, r); err == nil && ok {
			return true
		}
	}
	return false
}
