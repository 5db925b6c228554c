package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
)

// dialText connects for a line-oriented protocol, with implicit TLS when
// useTLS (pops, imaps). Certificates are not verified: ldirectord's imaps
// (Net::IMAP::Simple) uses SSL_VERIFY_NONE and its https check skips
// verification; a health check must not fail on a self-signed real.
func (b *base) dialText(ctx context.Context, real Target, useTLS bool) (net.Conn, *textproto.Conn, error) {
	c, err := b.dial(ctx, "tcp", real)
	if err != nil {
		return nil, nil, err
	}
	if useTLS {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // see above
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, nil, fmt.Errorf("TLS handshake with %s: %w", c.RemoteAddr(), err)
		}
		c = tc
	}
	return c, textproto.NewConn(c), nil
}
