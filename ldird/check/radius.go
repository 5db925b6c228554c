package check

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// radiusChecker is service radius (check_radius via Authen::Radius 0.32):
// one Access-Request with User-Name=login, User-Password=passwd (RFC 2865
// hiding with secret) and NAS-IP-Address, sent over UDP; the whole check runs
// under checktimeout. check_pwd returns true only for an Access-Accept whose
// response authenticator verifies (a bad one dies in recv_packet), and the
// Perl tests `$result eq ""`, so a Reject, a bad authenticator, an error or a
// timeout are all down. (spec/ldirectord-checks.md says a Reject counts as
// up; Perl's false value is "", so the code makes it down.)
// A Message-Authenticator (RFC 3579) is added so that servers hardened
// against BlastRADIUS accept the request; Authen::Radius does not send one.
type radiusChecker struct{ b *base }

const (
	radiusAccessRequest = 1
	radiusAccessAccept  = 2
	radiusAccessReject  = 3
)

func (r *radiusChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.b.connectTimeout)
	defer cancel()
	c, err := r.b.dial(ctx, "udp", real)
	if err != nil {
		return finish(start, err, "")
	}
	defer c.Close()
	pkt, reqAuth, id, err := r.request(c.LocalAddr())
	if err != nil {
		return finish(start, err, "")
	}
	if _, err := c.Write(pkt); err != nil {
		return finish(start, fmt.Errorf("radius send: %w", err), "")
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return finish(start, fmt.Errorf("radius receive: %w", err), "")
		}
		resp := buf[:n]
		if n < 20 || resp[1] != id || int(binary.BigEndian.Uint16(resp[2:4])) > n {
			continue // not the answer to our request
		}
		resp = resp[:binary.BigEndian.Uint16(resp[2:4])]
		if !r.validResponse(resp, reqAuth) {
			return finish(start, errors.New("radius reply has a bad response authenticator (wrong secret?)"), "")
		}
		switch resp[0] {
		case radiusAccessAccept:
			return finish(start, nil, "Access-Accept")
		case radiusAccessReject:
			return finish(start, errors.New("radius Access-Reject"), "Access-Reject")
		default:
			return finish(start, fmt.Errorf("radius reply code %d", resp[0]), "")
		}
	}
}

func (r *radiusChecker) request(local net.Addr) (pkt, reqAuth []byte, id byte, err error) {
	var rnd [17]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, nil, 0, fmt.Errorf("radius random: %w", err)
	}
	id, reqAuth = rnd[0], rnd[1:17]
	secret := []byte(r.b.spec.Secret)
	if len(r.b.spec.Login) > 253 || len(r.b.spec.Passwd) > 128 {
		return nil, nil, 0, errors.New("radius login or passwd too long")
	}
	var b bytes.Buffer
	b.Write([]byte{radiusAccessRequest, id, 0, 0})
	b.Write(reqAuth)
	attr := func(t byte, v []byte) { b.WriteByte(t); b.WriteByte(byte(len(v) + 2)); b.Write(v) }
	attr(1, []byte(r.b.spec.Login))
	attr(2, hidePassword([]byte(r.b.spec.Passwd), secret, reqAuth))
	nas := net.IPv4(127, 0, 0, 1).To4()
	if ua, ok := local.(*net.UDPAddr); ok && ua.IP.To4() != nil {
		nas = ua.IP.To4()
	}
	attr(4, nas)
	maPos := b.Len() + 2
	attr(80, make([]byte, 16))
	pkt = b.Bytes()
	binary.BigEndian.PutUint16(pkt[2:4], uint16(len(pkt)))
	mac := hmac.New(md5.New, secret)
	mac.Write(pkt)
	copy(pkt[maPos:], mac.Sum(nil))
	return pkt, reqAuth, id, nil
}

// hidePassword is RFC 2865 section 5.2.
func hidePassword(pw, secret, reqAuth []byte) []byte {
	n := (len(pw) + 15) / 16 * 16
	if n == 0 {
		n = 16
	}
	out := make([]byte, n)
	copy(out, pw)
	prev := reqAuth
	for i := 0; i < n; i += 16 {
		h := md5.New()
		h.Write(secret)
		h.Write(prev)
		sum := h.Sum(nil)
		for j := 0; j < 16; j++ {
			out[i+j] ^= sum[j]
		}
		prev = out[i : i+16]
	}
	return out
}

// validResponse checks MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
func (r *radiusChecker) validResponse(resp, reqAuth []byte) bool {
	h := md5.New()
	h.Write(resp[:4])
	h.Write(reqAuth)
	h.Write(resp[20:])
	h.Write([]byte(r.b.spec.Secret))
	return hmac.Equal(h.Sum(nil), resp[4:20])
}
