package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ftpChecker is service ftp (check_ftp via Net::FTP): connect, USER/PASS,
// CWD /, TYPE I, passive mode, RETR <request> (with its leading "/"), QUIT.
// ldirectord ignores the errors of each step and only matches what was
// downloaded against receive; so does this check. With an empty receive
// (where Perl's empty-pattern rule makes the outcome depend on earlier
// matches) the check is up when the transfer completed.
// The data connection goes to the real's address and the port from the
// PASV/EPSV reply; the address in a PASV reply is ignored (NAT-safe, and no
// connections to third hosts).
type ftpChecker struct{ b *base }

var pasvRE = regexp.MustCompile(`(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`)

func (f *ftpChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, f.b.negotiateTimeout)
	defer cancel()
	data, complete, err := f.fetch(ctx, real)
	if f.b.recv.re == nil {
		if !complete {
			if err == nil {
				err = errors.New("ftp transfer did not complete")
			}
			return finish(start, err, "")
		}
		return finish(start, nil, "transfer complete")
	}
	if f.b.recv.re.Match(data) {
		return finish(start, nil, "receive matched")
	}
	if err == nil {
		err = errNoMatch
	} else {
		err = fmt.Errorf("%w (%v)", errNoMatch, err)
	}
	return finish(start, err, snippet(data))
}

// fetch runs the session and returns what RETR delivered and whether the
// server confirmed the transfer.
func (f *ftpChecker) fetch(ctx context.Context, real Target) ([]byte, bool, error) {
	c, tp, err := f.b.dialText(ctx, real, false)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	if _, _, err := tp.ReadResponse(2); err != nil {
		return nil, false, fmt.Errorf("ftp banner: %w", err)
	}
	code, _, err := cmd(tp, 0, "USER %s", f.b.spec.Login)
	if err == nil && code == 331 {
		_, _, err = cmd(tp, 2, "PASS %s", f.b.spec.Passwd)
	}
	if err != nil && isNetErr(err) {
		return nil, false, fmt.Errorf("ftp login: %w", err)
	}
	// Net::FTP carries on after failures; only a dead connection stops us.
	for _, line := range []string{"CWD /", "TYPE I"} {
		if _, _, err := cmd(tp, 0, "%s", line); err != nil && isNetErr(err) {
			return nil, false, fmt.Errorf("ftp %s: %w", line, err)
		}
	}
	port, err := f.passive(tp, real)
	if err != nil {
		return nil, false, err
	}
	dc, err := f.b.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(real.IP, port).String())
	if err != nil {
		return nil, false, fmt.Errorf("ftp data connection: %w", err)
	}
	defer dc.Close()
	bindConn(ctx, dc)
	if _, _, err := cmd(tp, 1, "RETR %s", f.b.spec.Request); err != nil {
		return nil, false, fmt.Errorf("ftp RETR %s: %w", f.b.spec.Request, err)
	}
	data, rerr := io.ReadAll(io.LimitReader(dc, maxBody))
	_ = dc.Close()
	_, _, err = tp.ReadResponse(2)
	complete := err == nil && rerr == nil
	if rerr != nil {
		err = fmt.Errorf("ftp data: %w", rerr)
	}
	_, _, _ = cmd(tp, 2, "QUIT")
	return data, complete, err
}

// passive asks for a passive data port: EPSV for IPv6 (as Net::FTP does),
// PASV for IPv4.
func (f *ftpChecker) passive(tp *textproto.Conn, real Target) (uint16, error) {
	if real.IP.Is6() && !real.IP.Is4In6() {
		_, msg, err := cmd(tp, 229, "EPSV")
		if err != nil {
			return 0, fmt.Errorf("ftp EPSV: %w", err)
		}
		i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
		if i < 0 || j < i+4 {
			return 0, fmt.Errorf("ftp EPSV: bad reply %q", msg)
		}
		p, err := strconv.ParseUint(msg[i+4:j], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("ftp EPSV: bad port in %q", msg)
		}
		return uint16(p), nil
	}
	_, msg, err := cmd(tp, 227, "PASV")
	if err != nil {
		return 0, fmt.Errorf("ftp PASV: %w", err)
	}
	m := pasvRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, fmt.Errorf("ftp PASV: bad reply %q", msg)
	}
	hi, _ := strconv.Atoi(m[5])
	lo, _ := strconv.Atoi(m[6])
	if hi > 255 || lo > 255 {
		return 0, fmt.Errorf("ftp PASV: bad port in %q", msg)
	}
	return uint16(hi<<8 | lo), nil
}

// cmd sends one command and reads its reply; expect is as for
// textproto.ReadResponse (0 accepts any code).
func cmd(tp *textproto.Conn, expect int, format string, a ...any) (int, string, error) {
	if err := tp.PrintfLine(format, a...); err != nil {
		return 0, "", err
	}
	if expect == 0 {
		code, msg, err := tp.ReadResponse(0)
		return code, msg, err
	}
	return tp.ReadResponse(expect)
}

// isNetErr tells a broken connection from a protocol-level refusal.
func isNetErr(err error) bool {
	var te *textproto.Error
	var pe textproto.ProtocolError
	return !errors.As(err, &te) && !errors.As(err, &pe)
}
