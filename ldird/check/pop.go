package check

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// popChecker is service pop and pops (check_pop via Mail::POP3Client): the
// greeting must be +OK; if login is set, APOP (when the greeting carries a
// timestamp) or USER/PASS must succeed, as AUTH_MODE BEST does; then QUIT.
//
// Mail::POP3Client->new never returns false, so ldirectord 4.12 reports a
// real with an empty login as up even when nothing listens; this check
// requires the greeting (see README.md).
type popChecker struct {
	b   *base
	tls bool
}

var apopStamp = regexp.MustCompile(`<[^>]+>`)

func (p *popChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, p.b.negotiateTimeout)
	defer cancel()
	c, tp, err := p.b.dialText(ctx, real, p.tls)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	greeting, err := tp.ReadLine()
	if err != nil {
		return finish(start, fmt.Errorf("pop greeting: %w", err), "")
	}
	if !popOK(greeting) {
		return finish(start, fmt.Errorf("pop greeting: %q", greeting), greeting)
	}
	if p.b.spec.Login != "" {
		if err := p.login(tp, greeting); err != nil {
			return finish(start, err, "")
		}
	}
	_ = tp.PrintfLine("QUIT")
	_, _ = tp.ReadLine()
	return finish(start, nil, greeting)
}

func popOK(line string) bool { return len(line) >= 3 && strings.EqualFold(line[:3], "+OK") }

func (p *popChecker) login(tp *textproto.Conn, greeting string) error {
	if stamp := apopStamp.FindString(greeting); stamp != "" {
		sum := md5.Sum([]byte(stamp + p.b.spec.Passwd))
		if line, err := popCmd(tp, "APOP %s %s", p.b.spec.Login, hex.EncodeToString(sum[:])); err == nil && popOK(line) {
			return nil
		} else if err != nil {
			return fmt.Errorf("pop APOP: %w", err)
		}
	}
	line, err := popCmd(tp, "USER %s", p.b.spec.Login)
	if err != nil {
		return fmt.Errorf("pop USER: %w", err)
	}
	if !popOK(line) {
		return fmt.Errorf("pop USER refused: %q", line)
	}
	line, err = popCmd(tp, "PASS %s", p.b.spec.Passwd)
	if err != nil {
		return fmt.Errorf("pop PASS: %w", err)
	}
	if !popOK(line) {
		return errors.New("pop login failed: " + line)
	}
	return nil
}

func popCmd(tp *textproto.Conn, format string, a ...any) (string, error) {
	if err := tp.PrintfLine(format, a...); err != nil {
		return "", err
	}
	return tp.ReadLine()
}
