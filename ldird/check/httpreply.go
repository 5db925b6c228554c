package check

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
)

// The reply of an http check is read by a small parser of the common
// shapes (an HTTP/1.0 or 1.1 status line, plain header lines, a body
// framed by Content-Length, by plain chunks or by the end of the stream)
// into one pooled buffer. Anything else, a malformed reply included, goes
// to net/http's parser, fed the very bytes read so far and then the rest
// of the stream, so its verdict and its error are exactly what they were
// before this parser existed: the small one only has to be right on what
// it accepts. At 10,000 checks a second, net/http's Response, header map
// and readers per check cost more than the rest of the parse.

// replyLimit bounds what a real can make a check read: headers and
// maxBody of body.
const (
	headerLimit = 64 << 10
	replyLimit  = maxBody + headerLimit
)

// reply is one parsed response. body points into buf, which goes back to
// the pool with release.
type reply struct {
	status   string
	code     int
	body     []byte
	redirect bool // a 3xx with a Location: the client follows it
	eof      bool // the stream's end was read (the real closed its side)
	buf      *[]byte
}

func (r *reply) release() {
	if r.buf != nil && cap(*r.buf) <= 64<<10 {
		*r.buf = (*r.buf)[:0]
		replyBufs.Put(r.buf)
	}
	r.buf, r.body = nil, nil
}

var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// replyReader reads the stream into buf, at most replyLimit bytes in all
// (past that the stream ends, as io.LimitReader made it end before).
type replyReader struct {
	src io.Reader
	buf []byte
	err error // the first read error (io.EOF at the end), repeated
}

// more reads once; false when the stream gave an error (kept in err).
func (r *replyReader) more() bool {
	if r.err != nil {
		return false
	}
	if len(r.buf) >= replyLimit {
		r.err = io.EOF
		return false
	}
	if len(r.buf) == cap(r.buf) {
		r.buf = slices.Grow(r.buf, min(max(cap(r.buf), 4096), replyLimit-len(r.buf)))
	}
	end := min(cap(r.buf), replyLimit)
	for range 100 { // as bufio: a reader that keeps returning nothing is broken
		n, err := r.src.Read(r.buf[len(r.buf):end])
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			r.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	r.err = io.ErrNoProgress
	return false
}

// readReply reads one response to a request of method. The body of a 2xx
// is read when body is set (a check with a receive pattern), as before.
func readReply(src io.Reader, method string, body bool) (reply, error) {
	bp := replyBufs.Get().(*[]byte)
	rr := &replyReader{src: src, buf: (*bp)[:0]}
	rep, ok := parseReply(rr, method, body)
	return rr.reply(bp, rep, ok, method, body)
}

// reply ends a parse of rr (rep, ok: parseReply's) into the pooled buffer
// bp: the small parser's reply, or net/http's of the same bytes and the
// rest of the stream.
func (rr *replyReader) reply(bp *[]byte, rep reply, ok bool, method string, body bool) (reply, error) {
	*bp = rr.buf[:0]
	rep.buf = bp
	if ok {
		rep.eof = rr.err == io.EOF && len(rr.buf) < replyLimit
		return rep, nil
	}
	// Not a shape the small parser takes: net/http parses the same bytes.
	rest := io.Reader(io.LimitReader(rr.src, int64(replyLimit-len(rr.buf))))
	if rr.err != nil {
		rest = errReader{rr.err}
	}
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rr.buf), rest), 4096)
	rep, err := httpReply(br, &http.Request{Method: method}, body)
	rep.buf = bp
	return rep, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// httpReply reads a response with net/http's parser.
func httpReply(br *bufio.Reader, req *http.Request, body bool) (reply, error) {
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	rep := reply{status: resp.Status, code: resp.StatusCode}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 && resp.Header.Get("Location") != "" {
		rep.redirect = true
		return rep, nil
	}
	if body && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if rep.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody)); err != nil {
			return reply{}, fmt.Errorf("read body: %w", err)
		}
	}
	return rep, nil
}

// nextLine returns the line of rr.buf at off (without its LF and one CR
// before it) and the offset after it; ok false when there is no LF yet.
func nextLine(buf []byte, off int) (line []byte, next int, ok bool) {
	nl := bytes.IndexByte(buf[off:], '\n')
	if nl < 0 {
		return nil, off, false
	}
	line = buf[off : off+nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, off + nl + 1, true
}

// parseReply is the small parser: ok false hands the reply (all of it:
// rr.buf and the rest of the stream) to net/http.
func parseReply(rr *replyReader, method string, body bool) (rep reply, ok bool) {
	// The header block: lines up to an empty one.
	hdrEnd := 0
	for off := 0; ; {
		line, next, ok := nextLine(rr.buf, off)
		if !ok {
			if len(rr.buf) >= headerLimit || !rr.more() {
				return reply{}, false
			}
			continue
		}
		if len(line) == 0 {
			if off == 0 {
				return reply{}, false // no status line
			}
			hdrEnd = next
			break
		}
		off = next
	}
	// Status line: HTTP/1.0 or HTTP/1.1, one space, three digits, then
	// the end or a space and the reason.
	sl, off, _ := nextLine(rr.buf, 0)
	if len(sl) < 12 || string(sl[:7]) != "HTTP/1." || (sl[7] != '0' && sl[7] != '1') || sl[8] != ' ' ||
		!isDigit(sl[9]) || !isDigit(sl[10]) || !isDigit(sl[11]) || (len(sl) > 12 && sl[12] != ' ') {
		return reply{}, false
	}
	rep.code = int(sl[9]-'0')*100 + int(sl[10]-'0')*10 + int(sl[11]-'0')
	rep.status = string(sl[9:])
	http11 := sl[7] == '1'
	// Header lines: a token, a colon, a value of valid bytes; no folded
	// lines. Only the framing headers and Location matter here.
	contentLength, chunked, clSeen, teSeen, locSeen := int64(-1), false, false, false, false
	for off < hdrEnd {
		var line []byte
		line, off, _ = nextLine(rr.buf, off)
		if len(line) == 0 {
			break
		}
		key, val, found := bytes.Cut(line, []byte(":"))
		if !found || len(key) == 0 {
			return reply{}, false
		}
		for _, c := range key {
			if !isTokenByte(c) {
				return reply{}, false
			}
		}
		val = trimSpaceTab(val)
		for _, c := range val {
			if c < ' ' && c != '\t' || c == 0x7f {
				return reply{}, false
			}
		}
		switch {
		case asciiEqualFold(key, "content-length"):
			if clSeen || len(val) == 0 || len(val) > 18 {
				return reply{}, false
			}
			clSeen = true
			n := int64(0)
			for _, c := range val {
				if !isDigit(c) {
					return reply{}, false
				}
				n = n*10 + int64(c-'0')
			}
			contentLength = n
		case asciiEqualFold(key, "transfer-encoding"):
			// An HTTP/1.0 reply's Transfer-Encoding is ignored (net/http).
			if http11 {
				if teSeen || !asciiEqualFold(val, "chunked") {
					return reply{}, false
				}
				teSeen, chunked = true, true
			}
		case asciiEqualFold(key, "trailer"):
			return reply{}, false
		case asciiEqualFold(key, "location"):
			// net/http's Header.Get: the first Location counts.
			if !locSeen && rep.code >= 300 && rep.code <= 399 && len(val) > 0 {
				rep.redirect = true
			}
			locSeen = true
		}
	}
	if rep.redirect || !body || rep.code < 200 || rep.code > 299 {
		return rep, true
	}
	if method == "HEAD" || rep.code == 204 {
		rep.body = rr.buf[hdrEnd:hdrEnd]
		return rep, true
	}
	switch {
	case chunked:
		return parseChunked(rr, hdrEnd, rep)
	case contentLength >= 0:
		need := hdrEnd + int(min(contentLength, maxBody))
		for len(rr.buf) < need {
			if !rr.more() {
				return reply{}, false
			}
		}
		rep.body = rr.buf[hdrEnd:need]
		return rep, true
	}
	// Neither: the body ends with the stream.
	for len(rr.buf)-hdrEnd < maxBody && rr.more() {
	}
	if rr.err != io.EOF && len(rr.buf)-hdrEnd < maxBody {
		return reply{}, false
	}
	rep.body = rr.buf[hdrEnd:min(len(rr.buf), hdrEnd+maxBody)]
	return rep, true
}

// parseChunked takes a chunked body of plain chunks (hex size, CRLF, data,
// CRLF; no extensions, no trailer) of at most maxBody bytes. The data is
// moved together only once the whole body is known good: until then a
// fallback must see the bytes as they came.
func parseChunked(rr *replyReader, off int, rep reply) (reply, bool) {
	var spanBuf [16][2]int
	spans := spanBuf[:0] // data of each chunk: rr.buf[s[0]:s[1]]
	total := 0
	for {
		line, next, ok := nextLine(rr.buf, off)
		for !ok {
			if len(rr.buf)-off > 32 || !rr.more() {
				return reply{}, false
			}
			line, next, ok = nextLine(rr.buf, off)
		}
		// nextLine took one CR: the line must have had exactly one, last.
		if len(line) == 0 || len(line) > 15 || rr.buf[next-2] != '\r' {
			return reply{}, false
		}
		size := 0
		for _, c := range line {
			v, ok := hexVal(c)
			if !ok {
				return reply{}, false
			}
			size = size<<4 | int(v)
		}
		if size > maxBody-total {
			return reply{}, false
		}
		off = next
		// Data and its CRLF (after the last chunk: the empty trailer).
		for len(rr.buf) < off+size+2 {
			if !rr.more() {
				return reply{}, false
			}
		}
		if rr.buf[off+size] != '\r' || rr.buf[off+size+1] != '\n' {
			return reply{}, false
		}
		if size == 0 {
			break
		}
		spans = append(spans, [2]int{off, off + size})
		total += size
		off += size + 2
	}
	start := 0
	if len(spans) > 0 {
		start = spans[0][0]
	}
	w := start
	for _, s := range spans {
		w += copy(rr.buf[w:], rr.buf[s[0]:s[1]])
	}
	rep.body = rr.buf[start:w]
	return rep, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isTokenByte: RFC 9110 tchar, what net/http takes in a header name.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func trimSpaceTab(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares b with lower, an ASCII lower-case string.
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
