package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ldapChecker is service ldap and ldaps (check_ldap via Net::LDAP): bind with
// login/passwd when both are set, else anonymously; then a base-scope search
// of <request without the leading "/"> with filter (objectClass=*). Up when
// exactly one entry comes back and (receive empty, or its DN matches).
// ldaps does not verify certificates (Net::LDAP's default verify => 'none').
// The whole check runs under checktimeout, as ldirectord's alarm.
type ldapChecker struct {
	b   *base
	tls bool
}

func (l *ldapChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, l.b.connectTimeout)
	defer cancel()
	c, err := l.b.dial(ctx, "tcp", real)
	if err != nil {
		return finish(start, err, "Connection failed")
	}
	if l.tls {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // Net::LDAP default
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return finish(start, fmt.Errorf("ldaps handshake: %w", err), "Connection failed")
		}
		c = tc
	}
	conn := ldap.NewConn(c, l.tls)
	conn.Start()
	defer conn.Close()
	// go-ldap has no context API: the deadline set on c (bindConn) ends any
	// blocked read, and SetTimeout bounds the wait for each response.
	if d, ok := ctx.Deadline(); ok {
		conn.SetTimeout(time.Until(d))
	}
	if l.b.spec.Login != "" && l.b.spec.Passwd != "" {
		err = conn.Bind(l.b.spec.Login, l.b.spec.Passwd)
	} else {
		err = conn.UnauthenticatedBind("")
	}
	if err != nil {
		return finish(start, fmt.Errorf("ldap bind: %w", timeoutErr(ctx, err)), "Bind failed")
	}
	res, err := conn.Search(ldap.NewSearchRequest(l.b.request(), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", nil, nil))
	if err != nil {
		return finish(start, fmt.Errorf("ldap search %q: %w", l.b.request(), timeoutErr(ctx, err)), "No answer received")
	}
	if len(res.Entries) != 1 {
		return finish(start, fmt.Errorf("ldap search %q returned %d entries, want 1", l.b.request(), len(res.Entries)), "No answer received")
	}
	if l.b.recv.re != nil && !l.b.recv.re.MatchString(res.Entries[0].DN) {
		return finish(start, fmt.Errorf("ldap DN %q: %w", res.Entries[0].DN, errNoMatch), "Response mismatch")
	}
	return finish(start, nil, "Success")
}

// timeoutErr prefers the context's reason when the deadline cut the exchange.
func timeoutErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		var ne net.Error
		if errors.As(err, &ne) || !errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
	}
	return err
}
