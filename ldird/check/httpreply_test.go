package check

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// replyCases are responses as reals send them, well-formed and not. Each
// is read by readReply and by net/http's parser alone, and both must come
// to the same verdict; fast marks those the small parser must take on
// its own (the rest go to net/http through the fallback).
var replyCases = []struct {
	name, raw string
	fast      bool
}{
	{"rig", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n", true},
	{"http11 cl", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok\nextra after the body", true},
	{"bare lf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", true},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", true},
	{"reason with spaces", "HTTP/1.1 201 Created It Is  \r\nContent-Length: 2\r\n\r\nok", true},
	{"to eof", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nline one\nline ok two\n", true},
	{"to eof http11", "HTTP/1.1 200 OK\r\n\r\nbody until close", true},
	{"empty body cl0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	{"cl leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", true},
	{"cl spaces", "HTTP/1.1 200 OK\r\nContent-Length:   2  \r\n\r\nok", true},
	{"header case", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 2\r\n\r\nok", true},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nstat\r\n6\r\nus: ok\r\n0\r\n\r\n", true},
	{"chunked upper hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", true},
	{"chunked and cl", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true},
	{"chunked in http10 ignored", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n2\r\nok", true},
	{"204", "HTTP/1.1 204 No Content\r\n\r\n", true},
	{"404", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", true},
	{"500 no body read", "HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\nshort", true},
	{"100", "HTTP/1.1 100 Continue\r\n\r\n", true},
	{"redirect", "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", true},
	{"3xx empty location", "HTTP/1.1 302 Found\r\nLocation:  \r\nContent-Length: 0\r\n\r\n", true},
	{"3xx second location", "HTTP/1.1 301 Moved\r\nLocation:\r\nLocation: /x\r\n\r\n", true},
	{"location on 200", "HTTP/1.1 200 OK\r\nLocation: /x\r\nContent-Length: 2\r\n\r\nok", true},
	{"obs-text value", "HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", true},

	// Handed to net/http.
	{"chunked extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\n\r\n", false},
	{"chunked trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n", false},
	{"trailer header", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n", false},
	{"chunked bare lf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n", false},
	{"chunked bad data end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", false},
	{"chunked bad hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", false},
	{"chunked truncated", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok", false},
	{"gzip te", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok", false},
	{"two te", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"two same cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"two different cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", false},
	{"bad cl", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", false},
	{"bad cl on 404", "HTTP/1.1 404 Not Found\r\nContent-Length: -1\r\n\r\n", false},
	{"empty cl", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok", false},
	{"plus cl", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
	{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", false},
	{"folded header", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok", false},
	{"leading space header", "HTTP/1.1 200 OK\r\n X-A: one\r\nContent-Length: 2\r\n\r\nok", false},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false},
	{"no colon", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\nok", false},
	{"ctl in value", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok", false},
	{"cr in value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok", false},
	{"http2 version", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"http09", "ok\n", false},
	{"bad version", "HTTX/1.1 200 OK\r\n\r\nok", false},
	{"two spaces", "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"short code", "HTTP/1.1 20 OK\r\n\r\nok", false},
	{"code letters", "HTTP/1.1 2x0 OK\r\n\r\nok", false},
	{"code glued", "HTTP/1.1 200OK\r\n\r\nok", false},
	{"empty", "", false},
	{"empty line first", "\r\nHTTP/1.1 200 OK\r\n\r\n", false},
	{"headers cut", "HTTP/1.1 200 OK\r\nContent-Le", false},
	{"status only", "HTTP/1.1 200 OK", false},
}

// netHTTPReply is the reference: net/http's parser on the whole stream,
// as the check read replies before readReply.
func netHTTPReply(raw, method string, body bool) (reply, error) {
	br := bufio.NewReaderSize(io.LimitReader(strings.NewReader(raw), replyLimit), 4096)
	return httpReply(br, &http.Request{Method: method}, body)
}

func sameReply(t *testing.T, what string, got reply, gotErr error, want reply, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%s: error %v, net/http: %v", what, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if got.status != want.status || got.code != want.code || got.redirect != want.redirect || !bytes.Equal(got.body, want.body) {
		t.Fatalf("%s: got %q %d redirect=%v body %q; net/http: %q %d redirect=%v body %q", what,
			got.status, got.code, got.redirect, got.body, want.status, want.code, want.redirect, want.body)
	}
}

// TestReplyMatchesNetHTTP: for every case, method and body setting,
// readReply agrees with net/http, whole or a byte per read; the shapes
// the small parser is for never reach net/http.
func TestReplyMatchesNetHTTP(t *testing.T) {
	for _, tc := range replyCases {
		for _, method := range []string{"GET", "HEAD"} {
			for _, body := range []bool{true, false} {
				want, wantErr := netHTTPReply(tc.raw, method, body)
				for _, r := range []struct {
					how string
					src io.Reader
				}{{"whole", strings.NewReader(tc.raw)}, {"byte by byte", iotest.OneByteReader(strings.NewReader(tc.raw))}} {
					what := tc.name + " " + method + " " + r.how
					if !body {
						what += " (no body)"
					}
					got, err := readReply(r.src, method, body)
					sameReply(t, what, got, err, want, wantErr)
					got.release()
				}
				rr := &replyReader{src: strings.NewReader(tc.raw)}
				if _, ok := parseReply(rr, method, body); tc.fast && !ok {
					t.Errorf("%s %s body=%v: handed to net/http, want the small parser", tc.name, method, body)
				}
			}
		}
		if !tc.fast {
			rr := &replyReader{src: strings.NewReader(tc.raw)}
			if _, ok := parseReply(rr, "GET", true); ok {
				t.Errorf("%s: taken by the small parser, want net/http", tc.name)
			}
		}
	}
}

// TestReplyReadError: a stream that fails (a timeout, a reset) fails the
// reply with the same error net/http gave, wherever it breaks.
func TestReplyReadError(t *testing.T) {
	boom := errors.New("i/o timeout")
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok\n"
	for cut := 0; cut < len(raw); cut++ {
		src := io.MultiReader(strings.NewReader(raw[:cut]), errReader{boom})
		got, err := readReply(src, "GET", true)
		br := bufio.NewReader(io.MultiReader(strings.NewReader(raw[:cut]), errReader{boom}))
		want, wantErr := httpReply(br, &http.Request{Method: "GET"}, true)
		sameReply(t, raw[:cut], got, err, want, wantErr)
		if err == nil {
			t.Fatalf("cut at %d: no error", cut)
		}
		got.release()
	}
}

// TestReplyLimits: a body past maxBody is cut there (to the end of the
// stream, by Content-Length and chunked), and a header block past its
// limit goes to net/http, as do chunks past maxBody.
func TestReplyLimits(t *testing.T) {
	big := strings.Repeat("x", maxBody+10)
	cases := map[string]string{
		"to eof":     "HTTP/1.0 200 OK\r\n\r\n" + big,
		"cl":         "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big,
		"huge cl":    "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n" + big,
		"chunked":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("10000\r\n"+big[:0x10000]+"\r\n", 17) + "0\r\n\r\n",
		"big header": "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", headerLimit) + "\r\nContent-Length: 2\r\n\r\nok",
	}
	for name, raw := range cases {
		want, wantErr := netHTTPReply(raw, "GET", true)
		got, err := readReply(strings.NewReader(raw), "GET", true)
		if err == nil && len(got.body) > maxBody {
			t.Errorf("%s: body of %d bytes", name, len(got.body))
		}
		sameReply(t, name, got, err, want, wantErr)
		got.release()
	}
}

// FuzzReply: readReply and net/http agree on any input.
func FuzzReply(f *testing.F) {
	for _, tc := range replyCases {
		f.Add([]byte(tc.raw), false, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head, body bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		want, wantErr := netHTTPReply(string(raw), method, body)
		got, err := readReply(bytes.NewReader(raw), method, body)
		sameReply(t, "fuzz", got, err, want, wantErr)
		got.release()
	})
}
