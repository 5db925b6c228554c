package check

import (
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
	b      *base
	client *http.Client
	scheme string
	proxy  bool
}

type proxyKey struct{}

func newHTTP(b *base) (*httpChecker, error) {
	h := &httpChecker{b: b, scheme: b.spec.Service}
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
	// The transport may finish a dial in the background after the request
	// is cancelled; these bounds make sure such a dial to a hung real ends.
	dialer := &net.Dialer{Timeout: b.negotiatTO}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: b.negotiatTO,
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
	return h, nil
}

// URL returns the URL ldirectord would request for real.
func (h *httpChecker) URL(real Target) (string, error) {
	uri := h.b.request()
	if h.proxy || strings.HasPrefix(uri, h.scheme+"://") {
		return uri, nil
	}
	p, err := h.b.port(real)
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
	ctx, cancel := withTimeout(ctx, h.b.negotiatTO)
	defer cancel()
	u, err := h.URL(real)
	if err != nil {
		return finish(start, err, "")
	}
	if h.proxy {
		p, err := h.b.port(real)
		if err != nil {
			return finish(start, err, "")
		}
		ctx = context.WithValue(ctx, proxyKey{}, &url.URL{Scheme: "http", Host: netip.AddrPortFrom(real.IP, p).String()})
	}
	req, err := http.NewRequestWithContext(ctx, h.b.spec.HTTPMethod, u, nil)
	if err != nil {
		return finish(start, fmt.Errorf("build request %s: %w", u, err), "")
	}
	if !h.proxy {
		req.Host = h.b.spec.VirtualHost
		if req.Host == "" {
			req.Host = hostArg(real)
		}
	}
	req.Header.Set("User-Agent", "ldird (ldirectord-compatible health check)")
	resp, err := h.client.Do(req)
	if err != nil {
		return finish(start, fmt.Errorf("%s %s: %w", h.b.spec.HTTPMethod, u, err), "")
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return finish(start, fmt.Errorf("%s %s: status %s", h.b.spec.HTTPMethod, u, resp.Status), resp.Status)
	}
	if h.b.receive == nil {
		return finish(start, nil, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return finish(start, fmt.Errorf("read body of %s: %w", u, err), "")
	}
	if !h.b.receive.Match(body) {
		return finish(start, fmt.Errorf("%s %s: %w", h.b.spec.HTTPMethod, u, errNoMatch), snippet(body))
	}
	return finish(start, nil, resp.Status)
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
