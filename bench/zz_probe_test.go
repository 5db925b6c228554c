//go:build bench

package bench

import (
	"context"
	"fmt"
	"lvsha/tests/netns"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestZZStandbyTimeline(t *testing.T) {
	im := implHbd
	if os.Getenv("ZZ_IMPL") == "hb" {
		im = implHeartbeat
	}
	s := newSite(t, stdTimers, 43, true)
	if os.Getenv("ZZ_RT") == "off" {
		for _, n := range []*netns.Node{s.a, s.b} {
			b, _ := n.ReadFile("/etc/ha.d/ha.cf")
			n.WriteFile("/etc/ha.d/ha.cf", []byte(strings.Replace(string(b), "realtime on", "realtime off", 1)), 0o644)
		}
	}
	ch := make(chan error, 1)
	go func() { _, err := im.start(s.b); ch <- err }()
	pa, err := im.start(s.a)
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.until("alpha", time.Now(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.settle(im, true, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		type ev struct {
			sent, got time.Duration
			who       string
		}
		var mu sync.Mutex
		var evs []ev
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(2 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					s0 := time.Since(start)
					w := s.who()
					mu.Lock()
					evs = append(evs, ev{s0, time.Since(start), w})
					mu.Unlock()
				}()
			}
		}()
		time.Sleep(20 * time.Millisecond)
		start = time.Now()
		fmt.Printf("round %d hb_standby at %s\n", round, start.Format("15:04:05.000000"))
		tool := "hb_standby"
		want := "beta"
		if round%2 == 1 {
			tool, want = "hb_takeover", "alpha"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, _, code, err := s.a.Run(ctx, im.tool(tool))
		cancel()
		fmt.Printf("  %s exited %d %v after %v\n", tool, code, err, time.Since(start))
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wg.Wait()
		first := time.Duration(-1)
		for _, e := range evs {
			if e.who == want && (first < 0 || e.got < first) {
				first = e.got
			}
		}
		fmt.Printf("  first %s answer at %v\n", want, first)
		last := ""
		for _, e := range evs {
			if e.who != last {
				fmt.Printf("  %8.2fms..%8.2fms %q\n", float64(e.sent)/1e6, float64(e.got)/1e6, e.who)
				last = e.who
			}
		}
		if err := s.settle(im, round%2 == 1, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range [][2]any{{"alpha", s.a}, {"beta", s.b}} {
		_ = n
	}
	b, _ := s.a.ReadFile("/var/log/ha-log")
	fmt.Printf("=== alpha ha-log\n%s\n", tail(string(b), 6000))
	b, _ = s.b.ReadFile("/var/log/ha-log")
	fmt.Printf("=== beta ha-log\n%s\n", tail(string(b), 6000))
	if pa != nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pa.PID))
		fmt.Printf("=== smaps_rollup\n%s\n", b)
		b, _ = os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pa.PID))
		var name string
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 5 && strings.Contains(f[0], "-") {
				name = l
			}
			if len(f) >= 2 && f[0] == "Rss:" && f[1] != "0" {
				fmt.Printf("%8s kB  %s\n", f[1], name)
			}
		}
	}
}
