// Package fencing tests hbd's STONITH end to end: two directors and a client
// in network namespaces (tests/netns), and a test plugin in cluster-glue's
// external/ style that really fences in the lab (it takes the target's links
// down and kills every process of its namespaces, recording each call). A
// holder killed or frozen is reset before its VIP comes up on the survivor;
// a failing plugin holds the takeover back; meatware waits for meatclient;
// hbd and the real Heartbeat 3.0.6 fence each other.
package fencing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// metricsAddr is where hbd serves metrics inside a node (its own loopback).
const metricsAddr = "127.0.0.1:9694"

func scrape(t *testing.T, n *netns.Node) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _, _, _ := n.Run(ctx, "curl", "-s", "--max-time", "2", "http://"+metricsAddr+"/metrics")
	return out
}

// metricValue reads one sample of the exposition, by its full name with
// labels; -1 when absent.
func metricValue(body, series string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestKilledHolderIsFencedFirst: kill -9 of the holder's hbd. The survivor
// calls the plugin, which powers the holder off (links down, every process
// gone); only then does the VIP come up on the survivor: the address's
// timestamp is after the fence's, and the survivor did not have it when
// the plugin ran. cl_status fencestatus, the log and the metrics say so.
func TestKilledHolderIsFencedFirst(t *testing.T) {
	l := newLAN(t)
	pl := installPlugin(t, l.Alpha, l.Beta)
	l.configure(t, "on", pl.line("alpha beta"))
	var a *netns.Proc
	ch := make(chan *netns.Proc, 1)
	go func() { ch <- hbdlab.StartDirector(t, l.Beta, "-metrics", metricsAddr) }()
	a = hbdlab.StartDirector(t, l.Alpha)
	<-ch
	l.WaitServer(t, "alpha", 30*time.Second)
	if c := pl.calls(); len(c) != 0 {
		t.Fatalf("resets at start with both nodes up: %+v", c)
	}
	if got := fenceField(t, l.Beta, "state"); got != "idle" {
		t.Fatalf("beta fencestatus state %q before the kill", got)
	}
	mon := monitorVIP(t, l.Beta)

	killed := time.Now()
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	l.WaitServer(t, "beta", 20*time.Second)
	served := time.Since(killed)

	calls := pl.calls()
	if len(calls) != 1 || calls[0].Target != "alpha" || calls[0].By != "beta" || calls[0].Result != "OK" {
		t.Fatalf("plugin calls %+v, want one reset of alpha by beta", calls)
	}
	if calls[0].FVIP {
		t.Fatalf("beta had the VIP when it reset alpha: %s", calls[0].RawLine)
	}
	poweredOff(t, l.Alpha)
	added, ok := mon.added()
	if !ok {
		t.Fatalf("no VIP address event on beta:\n%s", mon.p.Output())
	}
	if !added.After(calls[0].At) {
		t.Fatalf("the VIP came up on beta at %s, not after the fence at %s", added.Format(time.StampMicro), calls[0].At.Format(time.StampMicro))
	}
	t.Logf("kill → fence done %v, fence → VIP on beta %v, kill → client served by beta %v",
		calls[0].At.Sub(killed).Round(time.Millisecond), added.Sub(calls[0].At).Round(time.Millisecond), served.Round(time.Millisecond))

	st := cl(t, l.Beta, "fencestatus")
	for _, want := range []string{"state idle\n", "device " + pl.Type + "\n", "results_OK 1\n", "results_bad 0\n", "last_node alpha\n", "last_result OK\n", "device_status ok\n"} {
		if !strings.Contains(st, want) {
			t.Errorf("beta fencestatus lacks %q:\n%s", want, st)
		}
	}
	log := hbdlab.Log(l.Beta)
	for _, want := range []string{"Resetting node alpha with [" + pl.Type + "]", "node alpha now reset."} {
		if !strings.Contains(log, want) {
			t.Errorf("beta's log lacks %q", want)
		}
	}
	m := scrape(t, l.Beta)
	if v := metricValue(m, `hbd_stonith_attempts_total{result="OK"}`); v != 1 {
		t.Errorf("hbd_stonith_attempts_total{result=\"OK\"} = %v, want 1", v)
	}
	if v := metricValue(m, `hbd_stonith_last_duration_seconds{node="alpha",result="OK"}`); v <= 0 {
		t.Errorf("hbd_stonith_last_duration_seconds = %v", v)
	}
}

// TestFailingFenceBlocksTakeover: while the plugin fails, the survivor
// takes nothing over (the killed holder's VIP and web server, still alive
// in the kernel, keep answering), every attempt is logged and counted, and
// the takeover follows as soon as a reset succeeds.
func TestFailingFenceBlocksTakeover(t *testing.T) {
	l := newLAN(t)
	pl := installPlugin(t, l.Alpha, l.Beta)
	l.configure(t, "on", pl.line("alpha beta"))
	ch := make(chan *netns.Proc, 1)
	go func() { ch <- hbdlab.StartDirector(t, l.Beta, "-stonith-retry", "500ms", "-metrics", metricsAddr) }()
	a := hbdlab.StartDirector(t, l.Alpha, "-stonith-retry", "500ms")
	<-ch
	l.WaitServer(t, "alpha", 30*time.Second)
	pl.fail(-1)
	mon := monitorVIP(t, l.Beta)
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	const fails = 3
	// hbd counts an attempt when the stonith program returns, a moment
	// after the plugin recorded it.
	netns.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		if answers(l.Beta) {
			t.Fatalf("beta took the VIP while the reset of alpha fails; calls %+v", pl.calls())
		}
		n, _ := strconv.Atoi(fenceField(t, l.Beta, "results_bad"))
		return n >= fails, fmt.Sprintf("beta counted %d failed resets (want %d); plugin calls %+v", n, fails, pl.calls())
	})
	for _, c := range pl.calls() {
		if c.Result != "failed" || c.Target != "alpha" || c.By != "beta" || c.FVIP {
			t.Fatalf("call %+v", c)
		}
	}
	if got := l.Get(500 * time.Millisecond); got != "alpha" {
		t.Errorf("the client got %q while alpha is unfenced; its address still answers", got)
	}
	st := cl(t, l.Beta, "fencestatus")
	if !strings.Contains(st, "node alpha\n") || !strings.Contains(st, "last_result bad\n") ||
		!strings.Contains(st, "lvsha test plugin: failing as the test asks") {
		t.Errorf("beta fencestatus while failing:\n%s", st)
	}
	if n, _ := strconv.Atoi(fenceField(t, l.Beta, "results_bad")); n < fails {
		t.Errorf("results_bad %d, want >= %d", n, fails)
	}
	if n := strings.Count(hbdlab.Log(l.Beta), "STONITH of alpha failed.  Retrying..."); n < fails {
		t.Errorf("%d 'STONITH of alpha failed.  Retrying...' log lines, want >= %d", n, fails)
	}
	if v := metricValue(scrape(t, l.Beta), `hbd_stonith_attempts_total{result="bad"}`); v < fails {
		t.Errorf("hbd_stonith_attempts_total{result=\"bad\"} = %v, want >= %d", v, fails)
	}

	pl.ok()
	okAt := time.Now()
	// The next attempt comes within the backoff (0.5, 1, 2, 4 s ...).
	l.WaitServer(t, "beta", 30*time.Second)
	calls := pl.calls()
	last := calls[len(calls)-1]
	if last.Result != "OK" || last.Target != "alpha" {
		t.Fatalf("last call %+v", last)
	}
	poweredOff(t, l.Alpha)
	added, ok := mon.added()
	if !ok || !added.After(last.At) {
		t.Fatalf("VIP on beta at %v (%v), not after the successful reset at %v", added, ok, last.At)
	}
	t.Logf("%d failed attempts; plugin fixed → reset %v → VIP on beta %v",
		len(calls)-1, last.At.Sub(okAt).Round(time.Millisecond), added.Sub(last.At).Round(time.Millisecond))
	if got := fenceField(t, l.Beta, "state"); got != "idle" {
		t.Errorf("fencestatus state %q after the success", got)
	}
}

// powerOff is what an operator does before confirming with meatclient:
// the node's links down and everything on it stopped.
func powerOff(t *testing.T, n *netns.Node) {
	t.Helper()
	for _, dev := range []string{"eth0", "eth1", "eth2"} {
		if err := n.SetLink(dev, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, pid := range n.Pids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	netns.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
		return len(n.Pids()) == 0, fmt.Sprintf("processes left on %s: %v", n.Name, n.Pids())
	})
}

// TestMeatware: with cluster-glue's meatware device the reset waits for an
// operator; nothing is taken over until `meatclient -c alpha` confirms.
func TestMeatware(t *testing.T) {
	l := newLAN(t)
	testenv.RequireProgram(t, stonithCmd, "cluster-glue")
	testenv.RequireProgram(t, "meatclient", "cluster-glue")
	l.configure(t, "on", "stonith_host * meatware alpha beta\n")
	a, _ := l.startBoth(t)
	l.WaitServer(t, "alpha", 30*time.Second)
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	fifo, _ := l.Beta.HostPath("/run/meatware.alpha")
	netns.Eventually(t, 15*time.Second, 50*time.Millisecond, func() (bool, string) {
		return fileExists(fifo), "meatware waiting on beta (" + fifo + ")"
	})
	if got := fenceField(t, l.Beta, "state"); got != "fencing" || fenceField(t, l.Beta, "waits_for_operator") != "yes" {
		t.Errorf("fencestatus while waiting:\n%s", cl(t, l.Beta, "fencestatus"))
	}
	hbdlab.WaitLog(t, l.Beta, "OPERATOR INTERVENTION REQUIRED to reset alpha", 5*time.Second)
	// Nothing moves while the operator has not answered.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		if answers(l.Beta) {
			t.Fatal("beta took the VIP before the operator confirmed the reset")
		}
		time.Sleep(100 * time.Millisecond)
	}
	powerOff(t, l.Alpha)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, errOut, code, err := l.Beta.Run(ctx, "sh", "-c", "echo y | meatclient -c alpha")
	if err != nil || code != 0 || !strings.Contains(out+errOut, "reset confirmed") {
		t.Fatalf("meatclient -c alpha: exit %d %v\n%s%s", code, err, out, errOut)
	}
	confirmed := time.Now()
	l.WaitServer(t, "beta", 20*time.Second)
	t.Logf("meatclient -c → client served by beta %v", time.Since(confirmed).Round(time.Millisecond))
	if got := fenceField(t, l.Beta, "results_OK"); got != "1" {
		t.Errorf("results_OK %q", got)
	}
}

func fileExists(p string) bool {
	_, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		return true
	}
	return err != syscall.ENOENT
}

// sample is who answered for the VIP at one instant (the survivor read
// first: if it answers, the holder was already fenced, so a "both" can
// only be real).
type sample struct {
	at          time.Time
	alpha, beta bool
}

// TestFrozenHolder is the case fencing exists for: the holder's hbd is
// frozen (SIGSTOP), so it stops heartbeating while its address still
// answers. The survivor resets it before taking the VIP: at no instant do
// two nodes answer for the VIP, before or after the fence.
func TestFrozenHolder(t *testing.T) {
	l := newLAN(t)
	pl := installPlugin(t, l.Alpha, l.Beta)
	l.configure(t, "off", pl.line("alpha beta"))
	a, _ := l.startBoth(t)
	l.WaitServer(t, "alpha", 30*time.Second)

	var mu sync.Mutex
	var samples []sample
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b := answers(l.Beta)
			s := sample{at: time.Now(), beta: b, alpha: answers(l.Alpha)}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	frozen := time.Now()
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	l.WaitServer(t, "beta", 20*time.Second)
	tookOver := time.Now()
	// Keep sampling a while after the takeover.
	netns.Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return countAfter(samples, tookOver) >= 10, "10 samples after the takeover"
	})
	close(stop)
	<-done

	calls := pl.calls()
	if len(calls) != 1 || calls[0].Result != "OK" || calls[0].Target != "alpha" {
		t.Fatalf("plugin calls %+v", calls)
	}
	fenced := calls[0].At
	poweredOff(t, l.Alpha)
	var before, after, both, betaOnly int
	for _, s := range samples {
		if s.alpha && s.beta {
			both++
			t.Errorf("at %s both alpha and beta answer for the VIP", s.at.Format(time.StampMicro))
		}
		if s.at.Before(fenced) {
			before++
		} else {
			after++
			if s.beta && !s.alpha {
				betaOnly++
			}
		}
	}
	if before == 0 || betaOnly == 0 {
		t.Fatalf("samples: %d before the fence, %d after (%d with beta alone)", before, after, betaOnly)
	}
	t.Logf("frozen → fenced %v; %d samples (%d before the fence, %d after), never two answering",
		fenced.Sub(frozen).Round(time.Millisecond), len(samples), before, after)
}

func countAfter(ss []sample, t time.Time) int {
	n := 0
	for _, s := range ss {
		if s.at.After(t) {
			n++
		}
	}
	return n
}

// TestMixedPairFencesBothWays: hbd and the real Heartbeat 3.0.6 with the
// same stonith_host line, the test plugin in cluster-glue's plugin
// directory. Heartbeat's in-process STONITH (libstonith, haresources mode)
// resets a killed hbd node before taking its group, and hbd resets a
// killed Heartbeat node before taking its group.
func TestMixedPairFencesBothWays(t *testing.T) {
	netns.Require(t)
	if _, ok := netns.HeartbeatAvailable(); !ok {
		testenv.Skip(t, "real Heartbeat 3.0.6 is not installed (Debian package heartbeat; scripts/deps.sh test installs it)")
	}
	for _, c := range []struct {
		name       string
		realOnBeta bool // Heartbeat runs on beta (the survivor), hbd on alpha (the holder); else the reverse
	}{
		{"Heartbeat fences hbd", true},
		{"hbd fences Heartbeat", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLAN(t)
			pl := installPlugin(t, l.Alpha, l.Beta)
			l.configure(t, "on", pl.line("alpha beta"))
			real, ours := l.Beta, l.Alpha
			if !c.realOnBeta {
				real, ours = l.Alpha, l.Beta
			}
			rp, op := hbdlab.StartMixed(t, real, ours, "-on-stop-failure", "ignore")
			l.WaitServer(t, "alpha", 40*time.Second)
			hbdlab.WaitLog(t, real, "remote resource transition completed", 30*time.Second)
			if c := pl.calls(); len(c) != 0 {
				t.Fatalf("resets at start: %+v", c)
			}
			mon := monitorVIP(t, l.Beta)
			holder := op
			if !c.realOnBeta {
				holder = rp
			}
			killed := time.Now()
			if err := holder.Kill(); err != nil {
				t.Fatal(err)
			}
			l.WaitServer(t, "beta", 60*time.Second)
			calls := pl.calls()
			if len(calls) != 1 || calls[0].Target != "alpha" || calls[0].By != "beta" || calls[0].Result != "OK" || calls[0].FVIP {
				t.Fatalf("plugin calls %+v, want one reset of alpha by beta before beta held the VIP", calls)
			}
			poweredOff(t, l.Alpha)
			added, ok := mon.added()
			if !ok || !added.After(calls[0].At) {
				t.Fatalf("VIP on beta at %v (%v), not after the reset at %v", added, ok, calls[0].At)
			}
			survivorLog := hbdlab.Log(l.Beta)
			if !strings.Contains(survivorLog, "Resetting node alpha with [") || !strings.Contains(survivorLog, "node alpha now reset.") {
				t.Errorf("beta's log lacks the reset lines:\n%s", hbdlab.LastLines(survivorLog, 30))
			}
			t.Logf("kill → fence %v → VIP on beta %v", calls[0].At.Sub(killed).Round(time.Millisecond), added.Sub(calls[0].At).Round(time.Millisecond))
		})
	}
}
