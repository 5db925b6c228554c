package check

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// sipChecker is service sip (check_sip): an OPTIONS request over the
// virtual's protocol (udp or tcp) with ldirectord's exact headers; up when
// the first line of the reply starts with "SIP/2.0 200 OK". Bounded by
// negotiatetimeout.
type sipChecker struct{ b *base }

func (s *sipChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.b.negotiateTimeout)
	defer cancel()
	c, err := s.b.dialProtocol(ctx, real)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	if _, err := c.Write(sipOptions(s.b.spec.Login, local)); err != nil {
		return finish(start, fmt.Errorf("sip send: %w", err), "")
	}
	rd := bufio.NewReader(c)
	if s.b.spec.Protocol == "udp" {
		if rd, err = datagramReply(c); err != nil {
			return finish(start, fmt.Errorf("sip receive: %w", err), "")
		}
	}
	line, err := rd.ReadString('\n')
	if line == "" && err != nil {
		return finish(start, fmt.Errorf("sip receive: %w", err), "No OK")
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "SIP/2.0 200 OK") {
		return finish(start, fmt.Errorf("sip reply %q", line), line)
	}
	return finish(start, nil, line)
}

// sipOptions builds ldirectord's OPTIONS request byte for byte (random Call-ID).
func sipOptions(login string, local netip.AddrPort) []byte {
	var id [8]byte
	_, _ = rand.Read(id[:])
	var b strings.Builder
	fmt.Fprintf(&b, "OPTIONS sip:%s SIP/2.0\r\n", login)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bKhjhs8ass877\r\n", local)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "To: <sip:%s>\r\n", login)
	fmt.Fprintf(&b, "From: <sip:%s>;tag=1928301774\r\n", login)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", hex.EncodeToString(id[:]))
	b.WriteString("CSeq: 63104 OPTIONS\r\n")
	fmt.Fprintf(&b, "Contact: <sip:%s>\r\n", login)
	b.WriteString("Accept: application/sdp\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}
