package check

import (
	"context"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// imapChecker is service imap and imaps (check_imap/check_imaps via
// Net::IMAP::Simple): the greeting must be "* OK" or "* PREAUTH"; if login
// is set, LOGIN must answer OK; then LOGOUT. Up when all of that worked.
type imapChecker struct {
	b   *base
	tls bool
}

var imapGreeting = regexp.MustCompile(`(?i)^\*\s+(OK|PREAUTH)`)

func (m *imapChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, m.b.negotiateTimeout)
	defer cancel()
	c, tp, err := m.b.dialText(ctx, real, m.tls)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	greeting, err := tp.ReadLine()
	if err != nil {
		return finish(start, fmt.Errorf("imap greeting: %w", err), "")
	}
	if !imapGreeting.MatchString(greeting) {
		return finish(start, fmt.Errorf("imap greeting: %q", greeting), greeting)
	}
	if m.b.spec.Login != "" {
		status, err := imapCmd(tp, "a1", "LOGIN "+imapQuote(m.b.spec.Login)+" "+imapQuote(m.b.spec.Passwd))
		if err != nil {
			return finish(start, fmt.Errorf("imap LOGIN: %w", err), "")
		}
		if !strings.HasPrefix(strings.ToUpper(status), "OK") {
			return finish(start, fmt.Errorf("imap login failed: %s", status), status)
		}
	}
	_, _ = imapCmd(tp, "a2", "LOGOUT")
	return finish(start, nil, greeting)
}

// imapQuote makes an IMAP quoted string (Net::IMAP::Simple's _escape).
func imapQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// imapCmd sends a tagged command and returns the text after the tag of the
// tagged reply, skipping untagged lines.
func imapCmd(tp *textproto.Conn, tag, command string) (string, error) {
	if err := tp.PrintfLine("%s %s", tag, command); err != nil {
		return "", err
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return rest, nil
		}
	}
}
