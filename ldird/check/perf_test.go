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
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
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

// rigServer starts the rig's real in a process of its own, so that the
// benchmark's CPU figures and profiles are the checker's alone (on
// loopback the kernel still charges both ends of a handshake to the side
// that sends the packet).
func rigServer(tb testing.TB) Target {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rigServerEnv+"=1")
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

// benchCheck runs c against tg b.N times, from 32 goroutines per -cpu
// (the daemon runs the checks of a time slot together), fails on the first down result, and reports
// the CPU time per check (cpu-ns/op), which is what the bench's CPU
// figure adds up.
func benchCheck(b *testing.B, c Checker, tg Target) {
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
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
	tg := rigServer(b)
	c := mustNewB(b, Spec{Type: "negotiate", Service: "http", Request: "/check", Receive: "ok",
		ConnectTimeout: time.Second, NegotiateTimeout: time.Second})
	benchCheck(b, c, tg)
}

// BenchmarkConnectCheck is one connect check against the same real.
func BenchmarkConnectCheck(b *testing.B) {
	tg := rigServer(b)
	c := mustNewB(b, Spec{Type: "connect", ConnectTimeout: time.Second, NegotiateTimeout: time.Second})
	benchCheck(b, c, tg)
}
