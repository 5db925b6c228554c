package check

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWaitAll: the connects of a batch that must wait end in one wait set,
// each on its own terms: a handshake that completes late is up (the
// others still waiting), a refusal seen only in the set is down with the
// connect's error (SO_ERROR), a hung one is down with an i/o timeout at
// its own deadline, and a real removed mid-wait ends at once without a
// result, long before its deadline.
func TestWaitAll(t *testing.T) {
	lateAP, accept := fullBacklog(t)
	hangAP, _ := fullBacklog(t)
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	late := inFlight(batchWorker(t, r, "late", Target{IP: lateAP.Addr(), Port: lateAP.Port(), Protocol: "tcp"}, 20*time.Second))
	hang := inFlight(batchWorker(t, r, "hang", Target{IP: hangAP.Addr(), Port: hangAP.Port(), Protocol: "tcp"}, 300*time.Millisecond))
	removed := inFlight(batchWorker(t, r, "removed", Target{IP: hangAP.Addr(), Port: hangAP.Port(), Protocol: "tcp"}, 30*time.Second))
	refused := inFlight(batchWorker(t, r, "refused", closedPort(t), 30*time.Second))

	var ps []pendingCheck
	for _, w := range []*worker{late, hang, removed} {
		s := w.quick().begin(w.ctx, w.cfg.Target)
		if s.wait == nil {
			t.Fatalf("%s: the handshake did not wait: %+v", w.cfg.Key, s)
		}
		ps = append(ps, pendingCheck{w: w, c: s.wait, initial: w.takeInitial()})
	}
	// begin would have seen the refusal itself; the set sees it as an
	// error on the socket.
	ap := apOf(refused.cfg.Target)
	conn, err := dialRaw(refused.ctx, ap, time.Now().Add(30*time.Second))
	if err != nil || !conn.pending {
		t.Fatalf("connect to a closed port: %v, pending %v; want a connect in progress", err, conn != nil && conn.pending)
	}
	ps = append(ps, pendingCheck{w: refused, c: &connWait{conn: conn, start: time.Now(), ap: ap}, initial: refused.takeInitial()})

	t0 := time.Now()
	go waitAll(ps)
	refused.inflight.Wait()
	if evs := rec.events("refused"); len(evs) != 1 || evs[0].Up() || !errors.Is(evs[0].Result.Err, unix.ECONNREFUSED) {
		t.Errorf("refused: %+v, want one event: down, connection refused", evs)
	}
	hang.inflight.Wait()
	if evs := rec.events("hang"); len(evs) != 1 || evs[0].Up() || !errors.Is(evs[0].Result.Err, os.ErrDeadlineExceeded) || evs[0].Result.Latency < 300*time.Millisecond {
		t.Errorf("hang: %+v, want one event: down, i/o timeout after 300ms", evs)
	}
	expectRemoved(t, removed, rec, t0, 10*time.Second)
	// The late real's SYN was dropped by the full queue; once a place is
	// free, its retransmission (a second later) completes the handshake.
	accept()
	late.inflight.Wait()
	if evs := rec.events("late"); len(evs) != 1 || !evs[0].Up() {
		t.Errorf("late: %+v, want one event: up", evs)
	}
	for _, w := range []*worker{late, hang, refused} {
		w.stop()
	}
}

// TestWaitAllHoldsNoThread: batches whose connects hang wait in the
// runtime's poller, not in a system call: 64 of them waiting at once
// leave the process's thread count as it was (a blocking epoll_wait(2)
// per batch would hold 64 threads), and each still ends at its deadline.
func TestWaitAllHoldsNoThread(t *testing.T) {
	hangAP, _ := fullBacklog(t)
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	const batches = 64
	tg := Target{IP: hangAP.Addr(), Port: hangAP.Port(), Protocol: "tcp"}
	var ws []*worker
	before := threads(t)
	for i := 0; i < batches; i++ {
		w := inFlight(batchWorker(t, r, fmt.Sprintf("hang%d", i), tg, 2*time.Second))
		s := w.quick().begin(w.ctx, w.cfg.Target)
		if s.wait == nil {
			t.Fatalf("the handshake did not wait: %+v", s)
		}
		ws = append(ws, w)
		go waitAll([]pendingCheck{{w: w, c: s.wait, initial: w.takeInitial()}})
	}
	time.Sleep(500 * time.Millisecond) // every batch is waiting
	if during := threads(t); during > before+batches/4 {
		t.Errorf("%d threads while %d batches wait, %d before", during, batches, before)
	}
	for _, w := range ws {
		w.inflight.Wait()
		if res := w.last; res.OK || !errors.Is(res.Err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: %+v, want an i/o timeout", w.cfg.Key, res)
		}
		w.stop()
	}
}

// expectRemoved removes w's real (cancels its context) while its check
// waits: the check must end within bound of t0 (long before its own
// deadline) and report nothing.
func expectRemoved(t *testing.T, w *worker, rec *recorder, t0 time.Time, bound time.Duration) {
	t.Helper()
	w.ctx.cancel()
	w.inflight.Wait()
	if d := time.Since(t0); d > bound {
		t.Errorf("%s: the removed real's check ended after %v", w.cfg.Key, d)
	}
	if evs := rec.events(w.cfg.Key); len(evs) != 0 {
		t.Errorf("%s: %+v, want no result", w.cfg.Key, evs)
	}
}

// threads is the process's number of OS threads.
func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}
