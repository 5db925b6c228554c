package check

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsChecker is service dns (check_dns via Net::DNS): query the real as a
// name server for <request without "/">, over TCP when protocol=tcp, else
// UDP (retrying over TCP on a truncated reply, as Net::DNS does). A request
// that is an IP address becomes a PTR query (Net::DNS does the same). Up
// when an A record's address or a PTR record's name in the answer section
// matches receive; an empty receive is always down.
// Deviation: Net::DNS's search() also tries the resolv.conf search domains;
// this check asks for the name as given (the name is made absolute).
type dnsChecker struct {
	b     *base
	qname dnsmessage.Name
	qtype dnsmessage.Type
}

func newDNS(b *base) (*dnsChecker, error) {
	name := b.request()
	qtype := dnsmessage.TypeA
	if ip, err := netip.ParseAddr(name); err == nil {
		name, qtype = reverseName(ip), dnsmessage.TypePTR
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	qn, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, configErr("dns request %q is not a valid name: %v", b.spec.Request, err)
	}
	return &dnsChecker{b: b, qname: qn, qtype: qtype}, nil
}

// reverseName returns the in-addr.arpa / ip6.arpa name of ip.
func reverseName(ip netip.Addr) string {
	ip = ip.Unmap()
	var sb strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&sb, "%d.%d.%d.%d.in-addr.arpa.", a[3], a[2], a[1], a[0])
		return sb.String()
	}
	a := ip.As16()
	const hexd = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		sb.WriteByte(hexd[a[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hexd[a[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("ip6.arpa.")
	return sb.String()
}

func (d *dnsChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, d.b.negotiateTimeout)
	defer cancel()
	if d.b.recv.re == nil {
		return finish(start, errors.New("dns check with an empty receive never succeeds (as in ldirectord)"), "Response mismatch")
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	err := q.StartQuestions()
	if err == nil {
		err = q.Question(dnsmessage.Question{Name: d.qname, Type: d.qtype, Class: dnsmessage.ClassINET})
	}
	var query []byte
	if err == nil {
		query, err = q.Finish()
	}
	if err != nil {
		return finish(start, fmt.Errorf("build dns query: %w", err), "")
	}
	var msg *dnsmessage.Message
	if d.b.spec.Protocol == "tcp" {
		msg, err = d.exchangeTCP(ctx, real, query, id)
	} else {
		msg, err = d.exchangeUDP(ctx, real, query, id)
		if err == nil && msg.Truncated {
			msg, err = d.exchangeTCP(ctx, real, query, id)
		}
	}
	if err != nil {
		return finish(start, err, "Connection timed out")
	}
	for _, rr := range msg.Answers {
		switch body := rr.Body.(type) {
		case *dnsmessage.AResource:
			if d.b.recv.re.MatchString(netip.AddrFrom4(body.A).String()) {
				return finish(start, nil, "Success")
			}
		case *dnsmessage.PTRResource:
			if d.b.recv.re.MatchString(strings.TrimSuffix(body.PTR.String(), ".")) {
				return finish(start, nil, "Success")
			}
		}
	}
	if len(msg.Answers) == 0 {
		return finish(start, fmt.Errorf("dns %s: no answer (rcode %s)", d.qname, msg.RCode), "Connection timed out")
	}
	return finish(start, fmt.Errorf("dns %s: %w", d.qname, errNoMatch), "Response mismatch")
}

func (d *dnsChecker) exchangeUDP(ctx context.Context, real Target, query []byte, id uint16) (*dnsmessage.Message, error) {
	c, err := d.b.dial(ctx, "udp", real)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(query); err != nil {
		return nil, fmt.Errorf("dns send: %w", err)
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("dns receive: %w", err)
		}
		var m dnsmessage.Message
		if m.Unpack(buf[:n]) != nil || m.ID != id || !m.Response {
			continue // stray or malformed datagram; keep waiting
		}
		return &m, nil
	}
}

func (d *dnsChecker) exchangeTCP(ctx context.Context, real Target, query []byte, id uint16) (*dnsmessage.Message, error) {
	c, err := d.b.dial(ctx, "tcp", real)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make([]byte, 2+len(query))
	binary.BigEndian.PutUint16(out, uint16(len(query)))
	copy(out[2:], query)
	if _, err := c.Write(out); err != nil {
		return nil, fmt.Errorf("dns send: %w", err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, fmt.Errorf("dns receive: %w", err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, fmt.Errorf("dns receive: %w", err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf); err != nil {
		return nil, fmt.Errorf("dns reply: %w", err)
	}
	if m.ID != id {
		return nil, errors.New("dns reply has the wrong id")
	}
	return &m, nil
}
