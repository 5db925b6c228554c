package rm

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/hbd/membership"
	"lvsha/hbd/wire"
)

// blockingFencer answers a reset only when the test says so.
type blockingFencer struct {
	mu      sync.Mutex
	calls   []string
	release chan FenceResult
}

func (f *blockingFencer) Reset(ctx context.Context, node string) (FenceResult, string) {
	f.mu.Lock()
	f.calls = append(f.calls, node)
	f.mu.Unlock()
	select {
	case r := <-f.release:
		return r, "test"
	case <-ctx.Done():
		return FenceFailed, "cancelled"
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestManagerRunsFence: the Manager runs the machine's Fence action on its
// Fencer beside the loop, reports the state while the reset runs and
// feeds the result back; a failure becomes a retry, the stonith messages
// go out.
func TestManagerRunsFence(t *testing.T) {
	f := &blockingFencer{release: make(chan FenceResult)}
	var mu sync.Mutex
	var sent []string
	mg := NewManager(Options{
		Machine: Config{Self: "alpha", Nodes: []string{"alpha", "beta"}, Mode: NiceFailback, Fencing: true, FenceRetry: 10 * time.Millisecond},
		Exec:    &Executor{},
		Send: func(m *wire.Message) error {
			mu.Lock()
			sent = append(sent, m.Type()+" "+m.Get(wire.FieldResult))
			mu.Unlock()
			return nil
		},
		Fencer: f,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mg.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	mg.Event(membership.Event{Kind: membership.NodeDead, Node: "beta"}) // initdead: never heard
	mg.Event(membership.Event{Kind: membership.CommUp})
	waitFor(t, "a reset attempt", func() bool { return mg.FenceState().Running })
	if st := mg.FenceState(); st.Node != "beta" || st.Attempts != 1 {
		t.Fatalf("state %+v", st)
	}
	f.release <- FenceFailed
	waitFor(t, "the retry", func() bool { return mg.FenceState().Attempts == 2 && mg.FenceState().Running })
	f.release <- FenceOK
	waitFor(t, "the end of the fencing", func() bool { return mg.FenceState().Node == "" })
	mu.Lock()
	defer mu.Unlock()
	var results []string
	for _, s := range sent {
		if strings.HasPrefix(s, wire.MsgStonith+" ") {
			results = append(results, s)
		}
	}
	if len(results) != 2 || results[0] != "stonith bad" || results[1] != "stonith OK" {
		t.Fatalf("stonith messages %v (all: %v)", results, sent)
	}
	if len(f.calls) != 2 {
		t.Fatalf("calls %v", f.calls)
	}
}
