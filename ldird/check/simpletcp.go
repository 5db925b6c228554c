package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// simpleTCPChecker is service simpletcp (check_simpletcp): connect with the
// virtual's protocol, send <request without "/"> with literal "\n" turned
// into newlines, shut down the write side (TCP), then read lines until one
// matches receive (up); EOF or negotiatetimeout without a match is down.
// Each line is matched without its trailing newline (Perl's $ matches before
// it; Go's does not). An empty receive matches the first line read.
type simpleTCPChecker struct{ b *base }

func (s *simpleTCPChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.b.negotiateTimeout)
	defer cancel()
	c, err := s.b.dialProtocol(ctx, real)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	req := strings.ReplaceAll(s.b.request(), `\n`, "\n")
	if _, err := io.WriteString(c, req); err != nil {
		return finish(start, fmt.Errorf("simpletcp send: %w", err), "")
	}
	var rd *bufio.Reader
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		rd = bufio.NewReader(io.LimitReader(c, maxBody))
	} else if rd, err = datagramReply(c); err != nil {
		return finish(start, fmt.Errorf("simpletcp receive: %w", err), "")
	}
	var last string
	for {
		line, err := rd.ReadString('\n')
		if line != "" {
			last = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if s.b.recv.re == nil || s.b.recv.re.MatchString(strings.TrimSuffix(line, "\n")) {
				return finish(start, nil, last)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return finish(start, errNoMatch, last)
			}
			return finish(start, fmt.Errorf("simpletcp receive: %w", err), last)
		}
	}
}
