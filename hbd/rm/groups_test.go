package rm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"lvsha/resources"
)

// fakeAgent is a resource whose state the test sets; every call is
// written to a shared log as "name action".
type fakeAgent struct {
	name      string
	calls     *[]string
	state     resources.State
	statusErr error // returned with state by Status
	startErr  error
	stopFails int             // stops that fail before one succeeds
	failedAs  resources.State // state a failing stop leaves
}

func (f *fakeAgent) String() string { return f.name }

func (f *fakeAgent) Start(ctx context.Context) error {
	*f.calls = append(*f.calls, f.name+" start")
	if f.startErr != nil {
		return f.startErr
	}
	f.state, f.statusErr = resources.Running, nil
	return nil
}

func (f *fakeAgent) Stop(ctx context.Context) error {
	*f.calls = append(*f.calls, f.name+" stop")
	if f.stopFails > 0 {
		f.stopFails--
		f.state = f.failedAs
		return errors.New("stop failed")
	}
	f.state, f.statusErr = resources.Stopped, nil
	return nil
}

func (f *fakeAgent) Status(ctx context.Context) (resources.State, error) {
	return f.state, f.statusErr
}

// fakeAddress is a fakeAgent that can announce itself.
type fakeAddress struct {
	fakeAgent
	announceErr error
}

func (f *fakeAddress) Announce(ctx context.Context) error {
	*f.calls = append(*f.calls, f.name+" announce")
	return f.announceErr
}

func newExecutor(groups map[string][]resources.Agent) (*Executor, *[]string) {
	var stopFailures []string
	e := &Executor{Groups: groups, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), StopRetries: 3}
	e.OnStopFailure = func(group string, r resources.Agent, err error) {
		stopFailures = append(stopFailures, group+" "+r.String())
	}
	return e, &stopFailures
}

func TestExecutor(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		// setup returns the group "g" and what the test does with it.
		run       func(e *Executor, calls *[]string, stopFailures *[]string, t *testing.T)
		wantCalls []string
	}{
		{
			name: "take starts left to right, skipping what runs",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				if err := e.Take(ctx, "g"); err != nil {
					t.Fatal(err)
				}
				if !e.Running(ctx, "g") {
					t.Error("group not running after take")
				}
			},
			wantCalls: []string{"ip start", "web start"},
		},
		{
			name: "a failed start gives the whole group back, right to left",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				e.Groups["g"][2].(*fakeAgent).startErr = errors.New("boom")
				err := e.Take(ctx, "g")
				if err == nil || !strings.Contains(err.Error(), "start web: boom") {
					t.Fatalf("take: %v", err)
				}
				if e.Running(ctx, "g") {
					t.Error("group still running after a failed take")
				}
			},
			wantCalls: []string{"ip start", "web start", "web stop", "fs stop", "ip stop"},
		},
		{
			name: "give stops right to left",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				e.Take(ctx, "g")
				*calls = nil
				if err := e.Give(ctx, "g"); err != nil {
					t.Fatal(err)
				}
			},
			wantCalls: []string{"web stop", "fs stop", "ip stop"},
		},
		{
			// Heartbeat's we_own_resource: a failed resource counts as
			// running, so it is not started again and it is stopped.
			name: "failed counts as running",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				ip := e.Groups["g"][0].(*fakeAddress)
				ip.state, ip.statusErr = resources.Failed, errors.New("monitor: generic error")
				if !e.Running(ctx, "g") {
					t.Error("a failed resource does not make the group running")
				}
				if err := e.Take(ctx, "g"); err != nil {
					t.Fatal(err)
				}
				if err := e.Give(ctx, "g"); err != nil {
					t.Fatal(err)
				}
			},
			wantCalls: []string{"web start", "web stop", "fs stop", "ip stop"},
		},
		{
			name: "a status error other than failed is not running",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				fs := e.Groups["g"][1].(*fakeAgent)
				fs.state, fs.statusErr = resources.Stopped, errors.New("cannot run status")
				if e.Running(ctx, "g") {
					t.Error("running")
				}
				if err := e.Take(ctx, "g"); err != nil {
					t.Fatal(err)
				}
			},
			wantCalls: []string{"ip start", "fs start", "web start"},
		},
		{
			name: "announce asks only the announcers",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				e.Groups["g"][0].(*fakeAddress).announceErr = errors.New("no socket")
				err := e.Announce(ctx, "g")
				if err == nil || !strings.Contains(err.Error(), "announce ip: no socket") {
					t.Fatalf("announce: %v", err)
				}
			},
			wantCalls: []string{"ip announce"},
		},
		{
			name: "unknown group",
			run: func(e *Executor, calls, _ *[]string, t *testing.T) {
				for _, err := range []error{e.Take(ctx, "x"), e.Give(ctx, "x"), e.Announce(ctx, "x")} {
					if !errors.Is(err, ErrUnknownGroup) {
						t.Errorf("%v, want ErrUnknownGroup", err)
					}
				}
				if e.Running(ctx, "x") {
					t.Error("unknown group running")
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls []string
			ip := &fakeAddress{fakeAgent: fakeAgent{name: "ip", calls: &calls}}
			fs := &fakeAgent{name: "fs", calls: &calls, state: resources.Running}
			web := &fakeAgent{name: "web", calls: &calls}
			e, stopFailures := newExecutor(map[string][]resources.Agent{"g": {ip, fs, web}})
			c.run(e, &calls, stopFailures, t)
			if !slices.Equal(calls, c.wantCalls) {
				t.Errorf("calls %q, want %q", calls, c.wantCalls)
			}
		})
	}
}

// TestExecutorStopRetries: a stop is tried StopRetries times; what follows
// depends on whether the resource still runs (Heartbeat's
// RecoverFromFailedStop and its "not LSB-compliant" warning).
func TestExecutorStopRetries(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		stopFails int
		failedAs  resources.State
		errs      string   // part of Give's error, "" = none
		failures  []string // OnStopFailure calls
	}{
		{name: "retried until it succeeds", stopFails: 2, failedAs: resources.Running},
		{name: "still running after every try", stopFails: 5, failedAs: resources.Running, errs: "stop web failed 3 times", failures: []string{"g web"}},
		{name: "failed counts as running", stopFails: 5, failedAs: resources.Failed, errs: "stop web failed 3 times", failures: []string{"g web"}},
		{name: "no longer running: only a warning", stopFails: 5, failedAs: resources.Stopped},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls []string
			web := &fakeAgent{name: "web", calls: &calls, state: resources.Running, stopFails: c.stopFails, failedAs: c.failedAs}
			fs := &fakeAgent{name: "fs", calls: &calls, state: resources.Running}
			e, failures := newExecutor(map[string][]resources.Agent{"g": {fs, web}})
			err := e.Give(ctx, "g")
			if c.errs == "" && err != nil || c.errs != "" && (err == nil || !strings.Contains(err.Error(), c.errs)) {
				t.Errorf("give: %v, want %q", err, c.errs)
			}
			if !slices.Equal(*failures, c.failures) {
				t.Errorf("stop failures %v, want %v", *failures, c.failures)
			}
			tries := min(c.stopFails+1, 3)
			want := append(slices.Repeat([]string{"web stop"}, tries), "fs stop")
			if !slices.Equal(calls, want) {
				t.Errorf("calls %q, want %q", calls, want)
			}
		})
	}
}
