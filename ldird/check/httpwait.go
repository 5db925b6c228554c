package check

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// httpExchange is the common http check (plain http to the real's own
// address with the virtual's request) as a batch runs it: begin connects
// and sends the request; the batch's wait set then moves it on as its
// socket becomes ready (the rest of the request once the handshake is
// done, the reply read and parsed as it comes) until the reply is whole. Every such
// check waits, for the reply at least, and in the runtime's poller each
// wait cost an os.File (fcntl(2), epoll_ctl(2) in and out, a cleanup),
// a timer and a parked goroutine; here it costs one epoll_ctl(2), and
// the real's FIN, when epoll reports it with the reply (EPOLLRDHUP),
// saves the read that would look for it. Run on its own (Check, or when
// no wait set could be made) the same exchange waits in the runtime's
// poller instead (block).
type httpExchange struct {
	h     *httpChecker
	ctx   context.Context
	real  Target
	start time.Time
	conn  *rawConn
	req   []byte // the part of the request not sent yet
	rr    replyReader
	bp    *[]byte // rr.buf's pooled buffer
	// hup: the real's FIN is in (EPOLLRDHUP without an error), so the
	// reply's end needs no read of its own.
	hup bool
	msg [256]byte // the request, when it fits
}

// errWouldBlock is the reply reader's "nothing yet" in the wait set: the
// parse stops there and starts again from the top when more has come.
var errWouldBlock = errors.New("would block")

// begin is the http check up to its first wait: socket(2), connect(2)
// and, on a near real, the request's write(2). The common case only;
// anything else (https, http_proxy, absolute URLs) is the rest.
func (h *httpChecker) begin(ctx context.Context, real Target) quickStart {
	if !h.plainHTTP() {
		return quickStart{rest: func() Result { return h.Check(ctx, real) }}
	}
	start := time.Now()
	if !real.IP.IsValid() {
		return quickStart{res: finish(start, errors.New("real server has no IP address"), "")}
	}
	x := &httpExchange{h: h, ctx: ctx, real: real, start: start}
	ap, msg, err := h.request(x.msg[:0], real)
	if err != nil {
		return quickStart{res: h.judge(start, h.urlOf(real), reply{}, err)}
	}
	x.req = msg
	conn, err := dialRaw(ctx, ap, start.Add(h.timeout))
	if err != nil {
		return quickStart{res: h.judge(start, h.urlOf(real), reply{}, connectErr(ap, err))}
	}
	x.conn = conn
	x.bp = replyBufs.Get().(*[]byte)
	x.rr = replyReader{src: x, buf: (*x.bp)[:0]}
	switch res, over, rest := x.advance(); {
	case rest != nil:
		return quickStart{rest: rest}
	case over:
		return quickStart{res: res}
	}
	return quickStart{wait: x}
}

func (x *httpExchange) sock() *rawConn { return x.conn }

// events: edge-triggered, so each readiness is taken whole (writes and
// reads go on until the kernel says EAGAIN); writable only while part of
// the request is still to go.
func (x *httpExchange) events() uint32 {
	ev := uint32(unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET)
	if len(x.req) > 0 {
		ev |= unix.EPOLLOUT
	}
	return ev
}

func (x *httpExchange) ready(ev uint32) (Result, bool, func() Result) {
	if ev&unix.EPOLLRDHUP != 0 && ev&unix.EPOLLERR == 0 {
		x.hup = true
	}
	return x.advance()
}

// advance moves the exchange on as far as the socket allows without
// waiting: over with the check's result, or rest (a reply only net/http
// parses, read on a goroutine that may wait; a redirect), or neither when
// it must wait for the socket.
func (x *httpExchange) advance() (Result, bool, func() Result) {
	for len(x.req) > 0 {
		n, err := sockcall.Write(x.conn.fd, x.req)
		switch {
		case err == unix.EAGAIN:
			return Result{}, false, nil // the handshake is on, or the buffer full
		case err != nil && x.conn.pending:
			// Nothing sent: the connect failed (a refusal, an unreachable
			// real), and the kernel says so at the first write.
			return x.complete(reply{}, os.NewSyscallError("connect", err))
		case err != nil:
			return x.complete(reply{}, os.NewSyscallError("write", err))
		}
		x.req, x.conn.pending = x.req[n:], false
	}
	rep, ok := x.parse()
	if !ok {
		switch x.rr.err {
		case errWouldBlock:
			return Result{}, false, nil
		case nil:
			// A shape for net/http, the stream still open: it reads on.
			return Result{}, false, x.block
		}
		// The stream is over (its end, an error): net/http parses what
		// there is without waiting.
	}
	return x.complete(x.reply(rep, ok))
}

// parse parses the reply read so far, reading on as the reader allows
// (errWouldBlock in the wait set ends the look, not the stream).
func (x *httpExchange) parse() (reply, bool) {
	if x.rr.err == errWouldBlock {
		x.rr.err = nil
	}
	return parseReply(&x.rr, x.h.method, x.h.recv.re != nil)
}

// reply ends the parse (rep, ok: parse's) into the exchange's pooled
// buffer: see replyReader.reply.
func (x *httpExchange) reply(rep reply, ok bool) (reply, error) {
	return x.rr.reply(x.bp, rep, ok, x.h.method, x.h.recv.re != nil)
}

// Read is the reply's read in the wait set: errWouldBlock when there is
// nothing yet.
func (x *httpExchange) Read(b []byte) (int, error) {
	n, err := sockcall.Read(x.conn.fd, b)
	switch {
	case err == unix.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, os.NewSyscallError("read", err)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// complete closes the connection (with a reset when the real has closed
// its side: see closeAfterReply) and judges the reply; a redirect is
// followed by net/http's client, on a goroutine of its own.
func (x *httpExchange) complete(rep reply, err error) (Result, bool, func() Result) {
	if err == nil {
		x.conn.closeAfterReply(rep.eof || x.hup)
	} else {
		x.conn.Close()
	}
	if rep.buf == nil {
		rep.buf = x.bp // an error before the parse ended
		*rep.buf = x.rr.buf[:0]
	}
	x.bp = nil
	if err == nil && rep.redirect {
		rep.release()
		return Result{}, false, func() Result { return x.h.slow(x.ctx, x.real, x.start) }
	}
	res := x.h.judge(x.start, x.h.urlOf(x.real), rep, err)
	rep.release()
	return res, true, nil
}

// stop ends the exchange at its deadline or on a cancellation: what was
// read goes to net/http with err after it, as a read of the reply that
// failed with err (i/o timeout) did before.
func (x *httpExchange) stop(err error) Result {
	if len(x.req) > 0 { // the request did not go: nothing was read
		res, _, _ := x.complete(reply{}, err)
		return res
	}
	x.rr.err = err
	res, _, _ := x.complete(x.reply(reply{}, false))
	return res
}

// alone ends the exchange on this goroutine (block).
func (x *httpExchange) alone() Result { return x.block() }

// block ends the exchange waiting in the runtime's poller: the rest of
// the request, then the reply (net/http's parser for what the small one
// does not take). A redirect is followed here too.
func (x *httpExchange) block() Result {
	if len(x.req) > 0 {
		if _, err := x.conn.Write(x.req); err != nil {
			res, _, _ := x.complete(reply{}, err)
			return res
		}
		x.req = nil
	}
	x.rr.src = x.conn
	res, _, rest := x.complete(x.reply(x.parse()))
	if rest != nil {
		return rest()
	}
	return res
}
