package wire

import (
	"bytes"
	"strings"
	"testing"
)

func TestCompute(t *testing.T) {
	data := []byte("123456789")
	for _, c := range []struct {
		m      Method
		secret string
		want   string
	}{
		{MethodCRC, "", "765e7680"},
		{MethodCRC, "ignored", "765e7680"},
		{MethodMD5, "secret", "c79611919bdcbf4ecb6999f05a218ba9"},
		{MethodSHA1, "secret", "e5ca2d0a7d8cdd938470d3eba325c17977874d50"},
		{"rot13", "secret", ""},
	} {
		if got := Compute(c.m, c.secret, data); got != c.want {
			t.Errorf("Compute(%s, %q) = %s, want %s", c.m, c.secret, got, c.want)
		}
	}
	// %lx is not zero-padded: find a short CRC and check its length.
	for i := 0; i < 1<<12; i++ {
		d := []byte{byte(i), byte(i >> 8)}
		if crc32POSIX(d) < 0x10000000 {
			if got := Compute(MethodCRC, "", d); len(got) >= 8 || got[0] == '0' {
				t.Fatalf("crc of %x printed as %q", d, got)
			}
			return
		}
	}
	t.Fatal("no short crc found")
}

func TestParseMethod(t *testing.T) {
	for _, s := range []string{"crc", "md5", "sha1"} {
		m, err := ParseMethod(s)
		if err != nil || string(m) != s || m.NeedsKey() != (s != "crc") {
			t.Errorf("ParseMethod(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "MD5", "rot13", "sha256"} {
		if _, err := ParseMethod(s); err == nil {
			t.Errorf("ParseMethod(%q) accepted", s)
		}
	}
}

func TestSign(t *testing.T) {
	r := &Keyring{Send: 3, Keys: map[int]Key{3: {3, MethodMD5, "secret"}, 1: {1, MethodCRC, ""}}}
	if got, err := r.Sign([]byte("123456789")); err != nil || got != "3 c79611919bdcbf4ecb6999f05a218ba9" {
		t.Fatalf("Sign = %q, %v", got, err)
	}
	for _, bad := range []*Keyring{nil, {Send: 2, Keys: r.Keys}, {Send: 1, Keys: map[int]Key{1: {1, "x", ""}}}} {
		if _, err := bad.Sign(nil); err == nil {
			t.Errorf("Sign with %+v succeeded", bad)
		}
	}
}

func TestParseAuthString(t *testing.T) {
	for _, c := range []struct {
		in  string
		idx int
		tok string
		ok  bool
	}{
		{"1 abc", 1, "abc", true},
		{"  15\tabc def", 15, "abc", true},
		{"1abc", 1, "abc", true}, // sscanf("%d %s") matches zero blanks too
		{"-2 x", -2, "x", true},
		{"1 ", 0, "", false},
		{"x 1", 0, "", false},
		{"", 0, "", false},
		{"1234567890 x", 0, "", false},
		{"1 ab\x00cd", 1, "ab", true},
	} {
		idx, tok, ok := parseAuthString([]byte(c.in))
		if ok != c.ok || (ok && (idx != c.idx || string(tok) != c.tok)) {
			t.Errorf("parseAuthString(%q) = %d %q %v", c.in, idx, tok, ok)
		}
	}
}

func TestMessage(t *testing.T) {
	m := New("status")
	m.Set("a", "1")
	m.SetBinary("u", []byte{1, 2})
	m.Fields = append(m.Fields, Field{Name: "a", Value: []byte("second")})
	if m.Type() != "status" || m.Get("a") != "1" {
		t.Fatalf("lookups: %v", m)
	}
	if _, ok := m.Lookup("u"); ok {
		t.Error("Lookup of a binary field succeeded")
	}
	if _, ok := m.Binary("a"); ok {
		t.Error("Binary of a string field succeeded")
	}
	if v, ok := m.Binary("u"); !ok || !bytes.Equal(v, []byte{1, 2}) {
		t.Errorf("Binary = %v %v", v, ok)
	}
	if v, ok := m.Lookup("missing"); ok || v != "" || m.Get("missing") != "" {
		t.Error("missing field found")
	}
	// Set modifies the first field in place (ha_msg_mod).
	m.Set("a", "one")
	if m.Fields[1].Value == nil || string(m.Fields[1].Value) != "one" || string(m.Fields[3].Value) != "second" {
		t.Errorf("Set: %v", m)
	}
	m.Set("new", "x")
	if m.Fields[len(m.Fields)-1].Name != "new" {
		t.Errorf("Set did not append: %v", m)
	}
	c := m.Clone()
	c.Fields[1].Value[0] = 'X'
	c.Set("t", "other")
	if m.Get("a") != "one" || m.Type() != "status" {
		t.Error("Clone shares state")
	}
	m.Del("a")
	if len(m.Fields) != 3 || m.Get("a") != "" {
		t.Errorf("Del: %v", m)
	}
	if got := m.String(); got != "{t=status (1)u=0102 new=x}" {
		t.Errorf("String = %s", got)
	}
	m.Set("ld", "0.0 1")
	if !strings.Contains(m.String(), `ld="0.0 1"`) {
		t.Errorf("String = %s", m)
	}
	var nilMsg *Message
	if nilMsg.Get("t") != "" || nilMsg.Clone() != nil || nilMsg.String() != "{}" {
		t.Error("nil message")
	}
}

func TestEncodeDoesNotModify(t *testing.T) {
	ring := ringFor("md5", "k")
	m := sampleStatus(1)
	m.Set("auth", "stale")
	m.Set("after", "x")
	before := m.Clone()
	pkt, err := Encode(m, ring)
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != before.String() {
		t.Fatalf("Encode modified its input:\n%v\n%v", m, before)
	}
	back, err := Decode(pkt, ring)
	if err != nil {
		t.Fatal(err)
	}
	// ha_msg_mod keeps the auth field where it was.
	if back.Fields[len(back.Fields)-2].Name != "auth" || back.Get("auth") == "stale" {
		t.Errorf("decoded: %v", back)
	}
}

func TestNewlineInValue(t *testing.T) {
	ring := ringFor("sha1", "k")
	m := New("x")
	m.Set("v", "two\nlines")
	pkt, err := EncodeClassic(m, ring)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pkt, []byte("v=two\x13lines\n")) {
		t.Fatalf("classic: %q", pkt)
	}
	for _, enc := range []func(*Message, *Keyring) ([]byte, error){Encode, EncodeClassic} {
		pkt, _ := enc(m, ring)
		back, err := Decode(pkt, ring)
		if err != nil || back.Get("v") != "two\nlines" {
			t.Errorf("decoded %q: %v, %v", pkt, back, err)
		}
	}
	// The inner auth signs glue's rendering, with 0x13.
	if got := ClassicText(m); string(got) != "t=x\nv=two\x13lines\n" {
		t.Errorf("ClassicText = %q", got)
	}
}

func TestEncodeErrors(t *testing.T) {
	ring := ringFor("md5", "k")
	for name, m := range map[string]*Message{
		"nil":          nil,
		"empty name":   {Fields: []Field{{Name: "", Value: []byte("x")}}},
		"= in name":    {Fields: []Field{{Name: "a=b", Value: []byte("x")}}},
		"nl in name":   {Fields: []Field{{Name: "a\nb", Value: []byte("x")}}},
		"( name":       {Fields: []Field{{Name: "(1)a", Value: []byte("x")}}},
		"NUL in value": {Fields: []Field{{Name: "a", Value: []byte("x\x00")}}},
		"type 2":       {Fields: []Field{{Name: "a", Type: 2, Value: []byte("x")}}},
	} {
		if _, err := Encode(m, ring); err == nil {
			t.Errorf("Encode(%s) succeeded", name)
		}
		if _, err := EncodeClassic(m, ring); err == nil {
			t.Errorf("EncodeClassic(%s) succeeded", name)
		}
	}
	empty := New("x")
	empty.Set("e", "")
	if _, err := Encode(empty, ring); err != nil {
		t.Errorf("netstring with an empty value: %v", err)
	}
	if _, err := EncodeClassic(empty, ring); err == nil {
		t.Error("classic with an empty value succeeded")
	}
	if _, err := Encode(New("x"), &Keyring{Send: 9}); err == nil {
		t.Error("Encode without the send key succeeded")
	}
	big := New("x")
	big.Set("v", strings.Repeat("a", MaxMessage))
	if _, err := Encode(big, ring); err == nil {
		t.Error("oversized Encode succeeded")
	}
	if _, err := EncodeClassic(big, ring); err == nil {
		t.Error("oversized EncodeClassic succeeded")
	}
}

func TestUnsigned(t *testing.T) {
	m := New("ask_resources")
	m.Set("rsc_hold", "all")
	m.Set("info", "me")
	b := EncodeUnsignedClassic(m)
	if string(b) != ">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n" {
		t.Fatalf("EncodeUnsignedClassic = %q", b)
	}
	for _, in := range [][]byte{b, append(b, 0), []byte(">>>\n\nt=a\n\n<<<\n")} {
		if got, err := DecodeUnsigned(in); err != nil || got.Type() == "" {
			t.Errorf("DecodeUnsigned(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := Decode(b, ringFor("md5", "k")); ReasonOf(err) != ReasonNoAuth {
		t.Errorf("Decode of unsigned classic: %v", err)
	}
	ns := []byte("###\n8:(0)t=abc,%%%\n")
	if got, err := DecodeUnsigned(ns); err != nil || got.Type() != "abc" {
		t.Errorf("DecodeUnsigned netstring = %v, %v", got, err)
	}
	if _, err := Decode(ns, ringFor("md5", "k")); ReasonOf(err) != ReasonNoAuth {
		t.Errorf("Decode without trailer: %v", err)
	}
}

// TestDecodeFraming covers the framing rules with crc-signed packets so that
// authentication never hides a framing verdict.
func TestDecodeFraming(t *testing.T) {
	ring := ringFor("crc", "")
	sign := func(body string) []byte {
		tok, _ := ring.Sign([]byte(body))
		return []byte(body + itoa(len(tok)) + ":" + tok + ",")
	}
	ok := "###\n8:(0)t=abc,%%%\n"
	for _, c := range []struct {
		name string
		pkt  []byte
		want Reason // "" = accepted
	}{
		{"minimal", sign(ok), ""},
		{"trailing NUL", append(sign(ok), 0), ""},
		{"two NULs", append(sign(ok), 0, 0), ReasonFraming},
		{"junk after trailer", append(sign(ok), 'x'), ReasonFraming},
		{"leading zeros", sign("###\n008:(0)t=abc,%%%\n"), ""},
		{"empty value", sign("###\n8:(0)t=abc,5:(0)e=,%%%\n"), ""},
		{"binary with NUL and comma", sign("###\n8:(0)t=abc,8:(1)u=\x00,\n,%%%\n"), ""},
		{"no fields", sign("###\n%%%\n"), ""},
		{"empty", nil, ReasonFraming},
		{"short", []byte("##"), ReasonTruncated},
		{"unknown marker", []byte("GET / HTTP/1.0\r\n"), ReasonFraming},
		{"start only", []byte("###\n"), ReasonTruncated},
		{"partial end", []byte("###\n8:(0)t=abc,%%"), ReasonTruncated},
		{"no trailer", []byte(ok), ReasonNoAuth},
		{"cut trailer", []byte(ok + "9:1 "), ReasonTruncated},
		{"cut field", []byte("###\n8:(0)t=a"), ReasonTruncated},
		{"cut length", []byte("###\n8"), ReasonTruncated},
		{"huge length", []byte("###\n9999999:(0)t=abc,%%%\n"), ReasonTruncated},
		{"too many digits", []byte("###\n00000008:(0)t=abc,%%%\n"), ReasonFraming},
		{"no colon", []byte("###\n8;(0)t=abc,%%%\n"), ReasonFraming},
		{"junk before length", []byte("###\nx8:(0)t=abc,%%%\n"), ReasonFraming},
		{"no comma", sign("###\n8:(0)t=abc;%%%\n"), ReasonFraming},
		{"short length", sign("###\n7:(0)t=abc,%%%\n"), ReasonFraming},
		{"no type", sign("###\n6:t=abcd,%%%\n"), ReasonFraming},
		{"two-digit type", sign("###\n9:(10)t=abc,%%%\n"), ReasonFraming},
		{"no =", sign("###\n8:(0)tabcd,%%%\n"), ReasonFraming},
		{"empty name", sign("###\n8:(0)=abcd,%%%\n"), ReasonFraming},
		{"( name", sign("###\n8:(0)(1)t=a,%%%\n"), ReasonFraming},
		{"NUL in string", sign("###\n8:(0)t=a\x00c,%%%\n"), ReasonFraming},
		{"struct", sign("###\n8:(0)t=abc,21:(2)s=###\n5:(0)a=,%%%\n,%%%\n"), ReasonUnsupported},
		{"compressed", sign("###\n8:(4)z=abc,%%%\n"), ReasonUnsupported},
		{"struct, bad auth", []byte("###\n8:(4)z=abc,%%%\n3:1 0,"), ReasonBadAuth},
		{"trailer without token", sign("###\n%%%\n")[:10], ReasonTruncated},
		{"unparsable trailer", []byte(ok + "3:abc,"), ReasonBadAuth},
		{"too large", append([]byte("###\n"), make([]byte, MaxMessage)...), ReasonTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.pkt, ring)
			if got := ReasonOf(err); got != c.want {
				t.Fatalf("Decode(%q) = %v, %v; want reason %q", clipDetail(c.pkt), m, err, c.want)
			}
			if err != nil && ReasonOf(err) == "" {
				t.Fatalf("error is not a DecodeError: %v", err)
			}
		})
	}
}

func TestDecodeClassic(t *testing.T) {
	ring := ringFor("md5", "k")
	sign := func(lines string) []byte {
		m, err := DecodeUnsigned([]byte(">>>\n" + lines + "<<<\n"))
		if err != nil {
			t.Fatalf("%q: %v", lines, err)
		}
		tok, _ := ring.Sign(ClassicText(m))
		return []byte(">>>\n" + lines + "auth=" + tok + "\n<<<\n")
	}
	good := sign("t=status\n(1)u=AAEC\n")
	for _, c := range []struct {
		name string
		pkt  []byte
		want Reason
	}{
		{"good", good, ""},
		{"trailing NUL", append(good, 0), ""},
		{"auth not last", []byte(strings.Replace(string(sign("t=a\n")), "auth", "z=1\nauth", 1)), ReasonBadAuth},
		{"wrong token", bytes.Replace(good, []byte("auth=1 "), []byte("auth=1 0"), 1), ReasonBadAuth},
		{"unknown index", bytes.Replace(good, []byte("auth=1 "), []byte("auth=7 "), 1), ReasonUnknownKey},
		{"no auth", []byte(">>>\nt=a\n<<<\n"), ReasonNoAuth},
		{"binary auth", []byte(">>>\nt=a\n(1)auth=AAEC\n<<<\n"), ReasonNoAuth},
		{"no end", []byte(">>>\nt=a\nauth=1 x\n"), ReasonTruncated},
		{"cut line", []byte(">>>\nt=a"), ReasonTruncated},
		{"junk after end", append(append([]byte{}, good...), 'x'), ReasonFraming},
		{"empty value", []byte(">>>\nt=\n<<<\n"), ReasonFraming},
		{"no =", []byte(">>>\nt\n<<<\n"), ReasonFraming},
		{"empty name", []byte(">>>\n=a\n<<<\n"), ReasonFraming},
		{"(0) prefix", []byte(">>>\n(0)t=a\n<<<\n"), ReasonFraming},
		{"bad prefix", []byte(">>>\n(1t=a\n<<<\n"), ReasonFraming},
		{"empty binary name", []byte(">>>\n(1)=AAEC\n<<<\n"), ReasonFraming},
		{"bad base64", []byte(">>>\n(1)u=!!!!\n<<<\n"), ReasonFraming},
		{"NUL in line", []byte(">>>\nt=a\x00b\n<<<\n"), ReasonFraming},
		{"struct", []byte(">>>\n(2)s=xyz\n<<<\n"), ReasonUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.pkt, ring)
			if got := ReasonOf(err); got != c.want {
				t.Fatalf("Decode(%q) = %v, %v; want reason %q", c.pkt, m, err, c.want)
			}
		})
	}
	m, err := Decode(good, ring)
	if b, ok := m.Binary("u"); err != nil || !ok || !bytes.Equal(b, []byte{0, 1, 2}) {
		t.Errorf("binary field: %v %v", m, err)
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
