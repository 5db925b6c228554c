package check

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"errors"

	"golang.org/x/sys/unix"
)

// scriptServer is a real whose reply the request's path picks (see
// replies); the connection is closed after it unless the script says
// otherwise.
func scriptServer(t *testing.T, held chan<- error) Target {
	t.Helper()
	return lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		head, _ := readHead(rd)
		line, _, ok := strings.Cut(head, "\n")
		if !ok { // not even the request line
			return
		}
		path := strings.Fields(line)[1]
		for _, part := range replies[path] {
			if d, ok := strings.CutPrefix(part, "sleep "); ok {
				dur, _ := time.ParseDuration(d)
				time.Sleep(dur)
				continue
			}
			if part == "hold" { // keep the connection open until the checker closes it
				_, err := rd.ReadByte()
				if path == "/held" {
					held <- err
				}
				return
			}
			c.Write([]byte(part))
		}
	})
}

// replies: what scriptServer writes for a path, in parts ("sleep D"
// pauses, "hold" keeps the connection open; for /held, how it ended goes
// to held).
var replies = map[string][]string{
	"/ok":       {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok\n"},
	"/to-eof":   {"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: ", "ok\n"},
	"/pieces":   {"HTTP/1.1 200 OK\r\nContent-", "sleep 30ms", "Length: 11\r\n\r\n", "sleep 30ms", "status", "sleep 30ms", ": ok\n"},
	"/chunked":  {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nstatus:\r\n", "sleep 20ms", "4\r\n ok\n\r\n0\r\n\r\n"},
	"/held":     {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok\n", "hold"},
	"/trailer":  {"HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nContent-Length: 11\r\n\r\n", "sleep 30ms", "status: ok\n", "sleep 30ms"},
	"/500":      {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"},
	"/mismatch": {"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstatus: x"},
	"/short":    {"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nstatus: ok\n"},
	"/garbage":  {"SSH-2.0-OpenSSH_9.2\r\n"},
	"/redirect": {"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n"},
	"/hang":     {"hold"},
}

// TestHTTPExchangeInWaitSet: an http check run in a batch (its request
// sent by begin, its reply read in the batch's wait set) gives the very
// result the same check gives on its own (Check), for every shape of
// reply: framed by length, by the stream's end or by chunks; coming in
// pieces; with the connection left open; one only net/http parses (its
// rest read on a goroutine); an error status, a body that does not match,
// a short body, not HTTP at all; a redirect (followed); a refusal and a
// real that never answers (its timeout). A real that keeps its
// connection open after a whole reply sees it closed with a FIN, not a
// reset (only a real that closed its side is reset).
func TestHTTPExchangeInWaitSet(t *testing.T) {
	held := make(chan error, 2)
	srv := scriptServer(t, held)
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	paths := []string{"/ok", "/to-eof", "/pieces", "/chunked", "/held", "/trailer", "/500", "/mismatch", "/short", "/garbage", "/redirect", "/hang", "refused"}
	type want struct {
		ok  bool
		err string // in the error
	}
	wants := map[string]want{
		"/ok": {ok: true}, "/to-eof": {ok: true}, "/pieces": {ok: true}, "/chunked": {ok: true}, "/held": {ok: true},
		"/trailer": {ok: true}, "/redirect": {ok: true},
		"/500": {err: "status 500"}, "/mismatch": {err: "does not match"}, "/short": {err: "unexpected EOF"},
		"/garbage": {err: "malformed HTTP"}, "/hang": {err: "i/o timeout"}, "refused": {err: "connection refused"},
	}
	checker := func(path string) Checker {
		p := path
		if p == "refused" {
			p = "/ok"
		}
		return mustNew(t, Spec{Type: "negotiate", Service: "http", Request: p, Receive: "status: ok", NegotiateTimeout: 500 * time.Millisecond})
	}
	refused := closedPort(t)
	target := func(path string) Target {
		if path == "refused" {
			return refused
		}
		return srv
	}
	var ws []*worker
	for _, p := range paths {
		w := checkWorker(r, p, target(p), checker(p))
		if w.quick() == nil {
			t.Fatal("an http check is not a quick one")
		}
		ws = append(ws, w)
	}
	runBatch(&r.sched, ws)
	for i, w := range ws {
		w.inflight.Wait()
		p := paths[i]
		got, wt := w.last, wants[p]
		alone := checker(p).Check(context.Background(), target(p))
		if got.OK != wt.ok || !wt.ok && (got.Err == nil || !strings.Contains(got.Err.Error(), wt.err)) {
			t.Errorf("%s in a batch: ok %v, err %v; want ok %v, an error with %q", p, got.OK, got.Err, wt.ok, wt.err)
		}
		if got.OK != alone.OK || fmt.Sprint(got.Err) != fmt.Sprint(alone.Err) || got.Detail != alone.Detail {
			t.Errorf("%s: in a batch ok %v, err %v, detail %q; on its own ok %v, err %v, detail %q",
				p, got.OK, got.Err, got.Detail, alone.OK, alone.Err, alone.Detail)
		}
		w.stop()
	}
	for _, how := range []string{"in a batch", "on its own"} {
		select {
		case err := <-held:
			if err != io.EOF {
				t.Errorf("/held %s: the real saw its connection end with %v, want a FIN (EOF)", how, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("/held %s: the connection was not closed", how)
		}
	}
}

// TestHTTPExchangeHandshakeInSet: a real whose handshake is still under
// way when begin sends (its SYN dropped by a full accept queue, as a far
// real's SYN-ACK is a round trip away) gets the request from the wait set
// once the handshake completes: it echoes the request, which comes back
// as a reply that is not HTTP.
func TestHTTPExchangeHandshakeInSet(t *testing.T) {
	ap, accept := fullBacklog(t)
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	w := inFlight(checkWorker(r, "far", Target{IP: ap.Addr(), Port: ap.Port(), Protocol: "tcp"},
		mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/far", NegotiateTimeout: 10 * time.Second})))
	s := w.quick().begin(w.ctx, w.cfg.Target)
	x, ok := s.wait.(*httpExchange)
	if !ok || len(x.req) == 0 || x.events()&unix.EPOLLOUT == 0 {
		t.Fatalf("begin: %+v; want an exchange whose request waits for the handshake", s)
	}
	accept() // the SYN's retransmission, a second later, gets through
	go waitAll([]pendingCheck{{w: w, c: x, initial: w.takeInitial()}})
	w.inflight.Wait()
	if res := w.last; res.OK || res.Err == nil || !strings.Contains(res.Err.Error(), `malformed HTTP status code "/far"`) {
		t.Errorf("far: %+v, want the echoed request as a malformed reply", res)
	}
	w.stop()
}

// TestHTTPExchangeRemoved: a real removed while its http check waits in
// the wait set ends at once, without a result, its socket closed.
func TestHTTPExchangeRemoved(t *testing.T) {
	tg, closed := hungServer(t)
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	w := checkWorker(r, "removed", tg, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", NegotiateTimeout: 30 * time.Second}))
	runBatch(&r.sched, []*worker{w})
	time.Sleep(100 * time.Millisecond)                  // the request is in, the reply awaited
	expectRemoved(t, w, rec, time.Now(), 5*time.Second) // its timeout is 30 s
	closed()
}

// TestHTTPBatchHoldsNoGoroutinePerCheck: the http checks of a batch that
// wait for their replies wait together, on one goroutine: 64 reals that
// never answer add no goroutine per check (in the runtime's poller each
// held one until its timeout), and each still ends at its own timeout
// with an i/o timeout, its connection closed.
func TestHTTPBatchHoldsNoGoroutinePerCheck(t *testing.T) {
	tg := lineServer(t, func(c net.Conn, rd *bufio.Reader) { io.Copy(io.Discard, rd) }) // never answers
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	c := mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", NegotiateTimeout: 2 * time.Second})
	const n = 64
	var ws []*worker
	for i := range n {
		ws = append(ws, checkWorker(r, fmt.Sprintf("hung%d", i), tg, c))
	}
	before := runtime.NumGoroutine()
	start := time.Now()
	runBatch(&r.sched, ws)
	time.Sleep(500 * time.Millisecond) // every check waits for its reply
	// The hung server holds a goroutine per connection itself.
	if during := runtime.NumGoroutine(); during > before+n+n/4 {
		t.Errorf("%d goroutines while %d checks wait, %d before (the server holds %d)", during, n, before, n)
	}
	for _, w := range ws {
		w.inflight.Wait()
		if res := w.last; res.OK || !errors.Is(res.Err, os.ErrDeadlineExceeded) || res.Latency < 2*time.Second {
			t.Errorf("%s: %+v, want an i/o timeout after 2s", w.cfg.Key, res)
		}
		w.stop()
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("64 checks with a 2s timeout took %v", d)
	}
}
