package check

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// nntpChecker is service nntp (check_nntp): connect, wait up to
// negotiatetimeout for data, read at most 64 bytes; up if it starts with "2".
type nntpChecker struct{ b *base }

func (n *nntpChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, n.b.negotiateTimeout)
	defer cancel()
	c, err := n.b.dial(ctx, "tcp", real)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	var buf [64]byte
	k, err := c.Read(buf[:])
	if k == 0 {
		if err == nil {
			err = errors.New("empty read")
		}
		return finish(start, fmt.Errorf("nntp banner: %w", err), "")
	}
	if buf[0] != '2' {
		return finish(start, fmt.Errorf("nntp banner does not start with 2: %q", buf[:k]), string(buf[:k]))
	}
	return finish(start, nil, string(buf[:k]))
}
