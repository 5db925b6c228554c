package check

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rigResponse is what the bench rig's real answers (bench/ldird_rig_test.go).
const rigResponse = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"

// serveRig is the bench rig's real in small: accept, read up to the end
// of the request head, answer rigResponse and close; a connect check
// closes without a request.
func serveRig(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 0, 1024)
			tmp := make([]byte, 1024)
			for len(buf) < 16<<10 {
				n, err := c.Read(tmp)
				buf = append(buf, tmp[:n]...)
				if bytes.Contains(buf, []byte("\r\n\r\n")) {
					_, _ = io.WriteString(c, rigResponse)
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// rigServerEnv makes the test binary the rig's real (see rigServer).
const rigServerEnv = "LVSHA_CHECK_RIG_SERVER"

func init() {
	if os.Getenv(rigServerEnv) == "" {
		return
	}
	ln, err := net.Listen("tcp4", os.Getenv(rigServerEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() { // ends with its parent (stdin closed)
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	serveRig(ln)
	os.Exit(0)
}

// rigServerOn starts the rig's real in a process of its own, listening
// on addr, so that the
// benchmark's CPU figures and profiles are the checker's alone (on
// loopback the kernel still charges both ends of a handshake to the side
// that sends the packet).
func rigServerOn(tb testing.TB, addr string) Target {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rigServerEnv+"="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("rig server: %v", err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		tb.Fatalf("rig server address %q: %v", line, err)
	}
	return Target{IP: ap.Addr(), Port: ap.Port(), Protocol: "tcp"}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCheck runs c b.N times against the rig's real on port, from
// parallel goroutines per -cpu (the daemon runs the checks of a time slot
// together), each check to the next of 10,000 loopback addresses as in
// the rig (one address would run out of ports to TIME_WAIT); it fails on
// the first down result and reports the CPU time per check
// (cpu-ns/op), which is what the bench's CPU figure adds up.
func benchCheck(b *testing.B, c Checker, port uint16, parallel int) {
	b.ReportAllocs()
	b.SetParallelism(parallel)
	var next atomic.Int64
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(next.Add(1) % 10000)
			tg := Target{IP: netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}), Port: port, Protocol: "tcp"}
			if r := c.Check(ctx, tg); !r.OK {
				b.Errorf("check down: %v", r.Err)
				return
			}
		}
	})
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkHTTPCheck is one http negotiate check as the bench runs it
// (request "check", receive "ok") against the rig's real: profile with
// -cpuprofile/-memprofile to see where a check's CPU goes.
func BenchmarkHTTPCheck(b *testing.B) {
	port := rigServerAny(b)
	c := mustNewB(b, Spec{Type: "negotiate", Service: "http", Request: "/check", Receive: "ok",
		ConnectTimeout: time.Second, NegotiateTimeout: time.Second})
	benchCheck(b, c, port, 32)
}

// BenchmarkConnectCheck is one connect check against the same real.
func BenchmarkConnectCheck(b *testing.B) {
	port := rigServerAny(b)
	c := mustNewB(b, Spec{Type: "connect", ConnectTimeout: time.Second, NegotiateTimeout: time.Second})
	// Fewer at once: connects need no answer, and the real would fall
	// behind accepting them (its backlog full, a SYN dropped, a timeout).
	benchCheck(b, c, port, 2)
}

// BenchmarkRunnerSlots is the scheduler as the bench drives it: 5,000
// reals at 500 ms (10,000 checks a second, on the 20 ms grid), checktype
// on; cpu-ns/op is the runner's CPU per check (timers, goroutines, state
// machine, notification).
func BenchmarkRunnerSlots(b *testing.B) {
	b.ReportAllocs()
	c := mustNewB(b, Spec{Type: "on"})
	var n atomic.Int64
	r := NewRunner(RunnerOptions{Notify: func(Event) { n.Add(1) }, EveryResult: true})
	for i := 0; i < 5000; i++ {
		ip := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		r.Add(RealConfig{Key: fmt.Sprint(i), Target: Target{IP: ip}, Checker: c, Interval: 500 * time.Millisecond})
	}
	if err := r.WaitStartup(context.Background()); err != nil {
		b.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // past the spread-out first pauses
	b.ResetTimer()
	n0, cpu0 := n.Load(), cpuTime()
	for n.Load()-n0 < int64(b.N) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n.Load()-n0), "cpu-ns/op")
	b.StopTimer()
	r.Stop()
}

// BenchmarkRunnerRig is the bench's load without the daemon around it:
// 10,000 reals (127.1.x.y, all answered by the rig's real) checked every
// second by a Runner, connect or http. It reports the CPU of a core the
// process used (cpu-%), and the share of rounds on time (gap between two
// checks of a real ≤ 1.25 s, as the bench counts them) over b.N checks.
func BenchmarkRunnerRig(b *testing.B) {
	for _, kind := range []string{"connect", "http"} {
		b.Run(kind, func(b *testing.B) {
			spec := Spec{Type: "connect", ConnectTimeout: time.Second, NegotiateTimeout: time.Second}
			if kind == "http" {
				spec = Spec{Type: "negotiate", Service: "http", Request: "/check", Receive: "ok",
					ConnectTimeout: time.Second, NegotiateTimeout: time.Second}
			}
			rig := rigServerAny(b)
			const reals = 10000
			var mu sync.Mutex
			last := make([]time.Time, reals)
			var gaps, late, down int
			var n atomic.Int64
			notify := func(e Event) {
				i := int(e.Target.IP.As4()[2])*250 + int(e.Target.IP.As4()[3]) - 1
				now := time.Now()
				mu.Lock()
				if !last[i].IsZero() {
					gaps++
					if now.Sub(last[i])-e.Result.Latency > 1250*time.Millisecond {
						late++
					}
				}
				if !e.Result.OK {
					down++
				}
				last[i] = now.Add(-e.Result.Latency)
				mu.Unlock()
				n.Add(1)
			}
			r := NewRunner(RunnerOptions{Notify: notify, EveryResult: true})
			defer r.Stop()
			for i := 0; i < reals; i++ {
				c := mustNewB(b, spec)
				ip := netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
				if err := r.Add(RealConfig{Key: fmt.Sprint(i), Target: Target{IP: ip, Port: rig, Protocol: "tcp"},
					Checker: c, Interval: time.Second}); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.WaitStartup(context.Background()); err != nil {
				b.Fatal(err)
			}
			time.Sleep(2 * time.Second) // past the spread-out first pauses
			mu.Lock()
			gaps, late, down = 0, 0, 0
			mu.Unlock()
			b.ResetTimer()
			n0, cpu0, t0 := n.Load(), cpuTime(), time.Now()
			for n.Load()-n0 < int64(b.N) {
				time.Sleep(10 * time.Millisecond)
			}
			wall := time.Since(t0)
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			b.ReportMetric(100*float64(cpuTime()-cpu0)/float64(wall), "cpu-%")
			b.ReportMetric(float64(n.Load()-n0)/wall.Seconds(), "checks/s")
			if gaps > 0 {
				b.ReportMetric(100*float64(gaps-late)/float64(gaps), "on-time-%")
			}
			if down > 0 {
				b.Errorf("%d checks down", down)
			}
		})
	}
}

// rigServerAny is rigServer listening on every loopback address
// (127.0.0.0/8 is all local), on a port of its own; it returns the port.
func rigServerAny(tb testing.TB) uint16 {
	tb.Helper()
	tg := rigServerOn(tb, "0.0.0.0:0")
	return tg.Port
}
