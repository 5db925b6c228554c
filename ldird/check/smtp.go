package check

import (
	"context"
	"fmt"
	"time"
)

// smtpChecker is service smtp and submission (check_smtp via Net::SMTP):
// the 220 banner must be 2xx, then EHLO (or HELO if EHLO is refused) must be
// accepted, then QUIT. Up when the session was established.
type smtpChecker struct{ b *base }

// smtpHello is Net::SMTP's default hello domain.
const smtpHello = "localhost.localdomain"

func (s *smtpChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.b.negotiateTimeout)
	defer cancel()
	c, tp, err := s.b.dialText(ctx, real, false)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	_, banner, err := tp.ReadResponse(2)
	if err != nil {
		return finish(start, fmt.Errorf("smtp banner: %w", err), "")
	}
	if _, _, err := cmd(tp, 2, "EHLO %s", smtpHello); err != nil {
		if _, _, err2 := cmd(tp, 2, "HELO %s", smtpHello); err2 != nil {
			return finish(start, fmt.Errorf("smtp EHLO: %v; HELO: %w", err, err2), "")
		}
	}
	_, _, _ = cmd(tp, 2, "QUIT")
	return finish(start, nil, banner)
}
