package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// httpChecker is service http, https and http_proxy (check_http).
//
// URL: <scheme>://<realip>:<port>/<request>; a request that already is an
// absolute URL of the same scheme is used verbatim (ldirectord does this for
// per-real requests). For http_proxy the request must be an absolute URL and
// is fetched through the real, used as an HTTP proxy. The Host header is
// virtualhost or the real's IP (not for http_proxy). Certificates are not
// verified (verify_hostname => 0). Redirects are followed, at most 7 (LWP).
// Up = final status 2xx and (receive empty or the body matches receive).
// The whole exchange is bounded by negotiatetimeout.
type httpChecker struct {
	// What every plain http check reads, copied out of b: at 10,000
	// reals each checker is cold by its next check, and these lie on
	// four cache lines of b (see connectChecker). Every path of the
	// checker reads these copies, not b's.
	method    string
	checkPort uint16 // checkport, or 0
	recv      receivePattern
	vhost     string
	timeout   time.Duration

	b      *base
	dialer *net.Dialer
	// reqURI serves the common case (httpExchange, tls): the request-URI
	// of the virtual's request; empty when the request is an absolute URL
	// or for http_proxy.
	reqURI string

	scheme string
	proxy  bool

	clientOnce sync.Once
	client     *http.Client // fullClient
}

type proxyKey struct{}

func newHTTP(b *base) (*httpChecker, error) {
	h := &httpChecker{b: b, scheme: b.spec.Service, method: b.spec.HTTPMethod, checkPort: b.checkPort(),
		recv: b.recv, vhost: b.spec.VirtualHost, timeout: b.negotiateTimeout}
	switch b.spec.HTTPMethod {
	case "GET", "HEAD":
	default:
		return nil, configErr("httpmethod must be GET or HEAD, got %q", b.spec.HTTPMethod)
	}
	if b.spec.Service == "http_proxy" {
		h.scheme, h.proxy = "http", true
		u, err := url.Parse(b.request())
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, configErr("service http_proxy needs an absolute URL as request, got %q", b.spec.Request)
		}
	}
	if !h.proxy && !strings.HasPrefix(b.request(), h.scheme+"://") && !strings.ContainsAny(b.spec.VirtualHost, " \t\r\n") {
		const probe = "192.0.2.1"
		if u, err := url.Parse(h.scheme + "://" + probe + "/" + b.request()); err == nil && u.Host == probe {
			h.reqURI = u.RequestURI()
		}
	}
	// The direct path needs no keepalive options on its one-shot sockets.
	h.dialer = &net.Dialer{Timeout: b.negotiateTimeout, KeepAlive: -1}
	return h, nil
}

// fullClient is net/http's client for what the direct paths hand over
// (redirects, host names), made on first use: most checkers never need
// one, and with a checker per real, 10,000 idle transports cost memory.
func (h *httpChecker) fullClient() *http.Client {
	h.clientOnce.Do(func() {
		b := h.b
		// The transport may finish a dial in the background after the request
		// is cancelled; these bounds make sure such a dial to a hung real ends.
		dialer := &net.Dialer{Timeout: b.negotiateTimeout}
		tr := &http.Transport{
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: b.negotiateTimeout,
			// ldirectord does not verify certificates (ssl_opts verify_hostname=>0).
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // matches ldirectord
			// Each check must open a new connection, as LWP does: a kept-alive
			// connection would hide a listener that no longer accepts.
			DisableKeepAlives: true,
			// LWP does not ask for compression; receive is matched on raw content.
			DisableCompression:     true,
			MaxResponseHeaderBytes: 64 << 10,
		}
		if h.proxy {
			tr.Proxy = func(r *http.Request) (*url.URL, error) {
				u, _ := r.Context().Value(proxyKey{}).(*url.URL)
				return u, nil
			}
		}
		h.client = &http.Client{
			Transport: tr,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > 7 { // LWP's max_redirect
					return http.ErrUseLastResponse
				}
				return nil
			},
		}
	})
	return h.client
}

// URL returns the URL ldirectord would request for real.
func (h *httpChecker) URL(real Target) (string, error) {
	uri := h.b.request()
	if h.proxy || strings.HasPrefix(uri, h.scheme+"://") {
		return uri, nil
	}
	p, err := portOf(h.checkPort, real, h.b)
	if err != nil {
		return "", err
	}
	return h.scheme + "://" + netip.AddrPortFrom(real.IP, p).String() + "/" + uri, nil
}

func (h *httpChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	if !real.IP.IsValid() {
		return finish(start, errors.New("real server has no IP address"), "")
	}
	if h.plainHTTP() {
		return checkQuick(h, ctx, real) // see httpExchange
	}
	if h.reqURI != "" {
		// The common case bounds its socket by the deadline itself
		// instead of a context with a timer per check.
		rep, err := h.tls(ctx, real, start.Add(h.timeout))
		if !errors.Is(err, errUseClient) && !rep.redirect {
			r := h.judge(start, h.urlOf(real), rep, err)
			rep.release()
			return r
		}
		rep.release()
	}
	return h.slow(ctx, real, start)
}

// plainHTTP: the common check over plain http, which httpExchange runs.
func (h *httpChecker) plainHTTP() bool { return h.reqURI != "" && h.scheme == "http" }

// urlOf is the URL of real for a log line, made only when one is needed.
func (h *httpChecker) urlOf(real Target) func() string {
	return func() string { u, _ := h.URL(real); return u }
}

// slow is the check through net/http: redirects, absolute URLs,
// http_proxy. negotiatetimeout (from start) bounds the whole exchange,
// redirects included.
func (h *httpChecker) slow(ctx context.Context, real Target, start time.Time) Result {
	ctx, cancel := context.WithDeadline(ctx, start.Add(h.timeout))
	defer cancel()
	u, err := h.URL(real)
	if err != nil {
		return finish(start, err, "")
	}
	var proxyAddr string
	if h.proxy {
		p, err := portOf(h.checkPort, real, h.b)
		if err != nil {
			return finish(start, err, "")
		}
		proxyAddr = netip.AddrPortFrom(real.IP, p).String()
		ctx = context.WithValue(ctx, proxyKey{}, &url.URL{Scheme: "http", Host: proxyAddr})
	}
	req, err := http.NewRequestWithContext(ctx, h.method, u, nil)
	if err != nil {
		return finish(start, fmt.Errorf("build request %s: %w", u, err), "")
	}
	if !h.proxy {
		req.Host = h.vhost
		if req.Host == "" {
			req.Host = hostArg(real)
		}
	}
	req.Header.Set("User-Agent", userAgent)
	rep, err := h.direct(ctx, req, proxyAddr)
	if errors.Is(err, errUseClient) || err == nil && rep.redirect {
		rep, err = h.viaClient(req)
	}
	return h.judge(start, func() string { return u }, rep, err)
}

const userAgent = "ldird (ldirectord-compatible health check)"

// judge turns an exchange into a Result: up on 2xx with a body matching
// receive (when set).
func (h *httpChecker) judge(start time.Time, u func() string, rep reply, err error) Result {
	if err != nil {
		return finish(start, fmt.Errorf("%s %s: %w", h.method, u(), err), "")
	}
	if rep.code < 200 || rep.code > 299 {
		return finish(start, fmt.Errorf("%s %s: status %s", h.method, u(), rep.status), rep.status)
	}
	if h.recv.re == nil {
		return finish(start, nil, rep.status)
	}
	if !h.recv.match(rep.body) {
		return finish(start, fmt.Errorf("%s %s: %w", h.method, u(), errNoMatch), snippet(rep.body))
	}
	return finish(start, nil, rep.status)
}

// tls is the common check over https: the request formatted from parts
// prepared at New (no URL parsing, no http.Request per check), sent on a
// connection of its own, and the reply read by readReply. Every wait ends
// at deadline or when ctx ends. (Plain http is httpExchange.)
func (h *httpChecker) tls(ctx context.Context, real Target, deadline time.Time) (rep reply, err error) {
	var a [256]byte
	ap, msg, err := h.request(a[:0], real)
	if err != nil {
		return reply{}, err
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	raw, err := h.dialer.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return reply{}, err
	}
	defer raw.Close()
	bindConn(ctx, raw)
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // as ldirectord
	if err := tc.HandshakeContext(ctx); err != nil {
		return reply{}, err
	}
	if _, err := tc.Write(msg); err != nil {
		return reply{}, err
	}
	return readReply(tc, h.method, h.recv.re != nil)
}

// connectErr is a failed connect as the check reports it.
func connectErr(ap netip.AddrPort, err error) error {
	return fmt.Errorf("connect tcp/%s: %w", ap, err)
}

// request is the common check's address and request (appended to buf).
func (h *httpChecker) request(buf []byte, real Target) (netip.AddrPort, []byte, error) {
	port, err := portOf(h.checkPort, real, h.b)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	host := h.vhost
	if host == "" {
		host = hostArg(real)
	}
	msg := append(buf, h.method...)
	msg = append(msg, ' ')
	msg = append(msg, h.reqURI...)
	msg = append(msg, " HTTP/1.1\r\nHost: "...)
	msg = append(msg, host...)
	msg = append(msg, "\r\nUser-Agent: "+userAgent+"\r\nConnection: close\r\n\r\n"...)
	return netip.AddrPortFrom(real.IP, port), msg, nil
}

// errUseClient sends a check down net/http's client: a redirect to
// follow, or a URL whose host is a name to resolve.
var errUseClient = errors.New("needs the full HTTP client")

// direct runs the check as one exchange on one connection it opens itself
// (to the URL's address, or to proxyAddr): request written, response read
// with net/http's parser. It avoids the client's per-request goroutines and
// channels, which cost more than the check at thousands of reals.
// Redirects and URLs naming a host return errUseClient.
func (h *httpChecker) direct(ctx context.Context, req *http.Request, proxyAddr string) (rep reply, err error) {
	addr := proxyAddr
	if addr == "" {
		host := req.URL.Hostname()
		if _, perr := netip.ParseAddr(host); perr != nil {
			return reply{}, errUseClient
		}
		port := req.URL.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[req.URL.Scheme]
		}
		addr = net.JoinHostPort(host, port)
	}
	raw, err := h.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return reply{}, err
	}
	defer raw.Close()
	bindConn(ctx, raw)
	conn := raw
	if req.URL.Scheme == "https" && proxyAddr == "" {
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: req.URL.Hostname()}) //nolint:gosec // as ldirectord
		if err := tc.HandshakeContext(ctx); err != nil {
			return reply{}, err
		}
		conn = tc
	}
	req.Close = true // "Connection: close": one check, one connection, as LWP
	bw := bufio.NewWriterSize(conn, 1024)
	if proxyAddr != "" {
		err = req.WriteProxy(bw)
	} else {
		err = req.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return reply{}, err
	}
	// Bound what a real can make us read: headers and maxBody of body.
	return httpReply(bufio.NewReaderSize(io.LimitReader(conn, replyLimit), 4096), req, h.recv.re != nil)
}

// viaClient runs the check through net/http's client (redirects followed,
// at most 7, as LWP does).
func (h *httpChecker) viaClient(req *http.Request) (rep reply, err error) {
	req.Close = false
	resp, err := h.fullClient().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	rep = reply{status: resp.Status, code: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && h.recv.re != nil {
		if rep.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody)); err != nil {
			return reply{}, fmt.Errorf("read body: %w", err)
		}
	}
	return rep, nil
}

// snippet shortens a reply for a log line.
func snippet(b []byte) string {
	const n = 200
	s := string(b)
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
