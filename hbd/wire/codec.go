package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// MaxMessage is Heartbeat's MAXMSG: no datagram or encoded message is larger.
const MaxMessage = 256 * 1024

const (
	startNetstring = "###\n" // MSG_START_NETSTRING
	endNetstring   = "%%%\n" // MSG_END_NETSTRING
	startClassic   = ">>>\n" // MSG_START
	endClassic     = "<<<\n" // MSG_END
	authName       = "auth"  // F_AUTH
	// specialSym replaces '\n' inside classic string values (glue SPECIAL_SYM).
	specialSym = 0x13
	// maxLenDigits bounds a netstring length: 7 digits exceed MaxMessage
	// and cannot overflow an int.
	maxLenDigits = 7
)

// Reason is a stable snake_case label for why a packet was dropped, used as
// a metric label and counter key.
type Reason string

const (
	ReasonFraming     Reason = "bad_framing"       // malformed markers, lengths, fields
	ReasonTruncated   Reason = "truncated"         // input ends inside the message
	ReasonTooLarge    Reason = "too_large"         // over MaxMessage
	ReasonNoAuth      Reason = "missing_auth"      // no trailer (netstring) or no auth field (classic)
	ReasonBadAuth     Reason = "bad_auth"          // MAC mismatch or unparsable auth string
	ReasonUnknownKey  Reason = "unknown_key_index" // auth index not in our authkeys
	ReasonBadMethod   Reason = "bad_method"        // our key for that index has no usable method
	ReasonUnsupported Reason = "unsupported_type"  // field types 2..9 (struct, list, compressed)
)

// DecodeError is returned by Decode and DecodeUnsigned; use errors.As.
type DecodeError struct {
	Reason Reason
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "wire: " + string(e.Reason)
	}
	return "wire: " + string(e.Reason) + ": " + e.Detail
}

// ReasonOf returns the Reason of a *DecodeError in err's chain, or "".
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

func decodeError(r Reason, format string, a ...any) *DecodeError {
	return &DecodeError{Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// ---------------------------------------------------------------- encoding

// Encode renders m as stock Heartbeat 3.0.6 sends it (msgfmt classic, the
// default): it sets the inner auth field to the classic-text MAC of every
// other field (ha_msg_mod: the first auth field is replaced in place, else
// one is appended last), then frames the fields as netstrings and appends the
// trailer MAC. m itself is not modified.
func Encode(m *Message, ring *Keyring) ([]byte, error) {
	mm, err := withAuth(m, ring, false)
	if err != nil {
		return nil, err
	}
	return EncodeNetstring(mm, ring)
}

// EncodeNetstring frames m's fields exactly as given (no inner auth field is
// added or recomputed) and appends the signed trailer. Encode is this plus
// the inner auth field; Heartbeat's msgfmt netstring sends this alone.
func EncodeNetstring(m *Message, ring *Keyring) ([]byte, error) {
	if err := validate(m, false); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128)
	b = append(b, startNetstring...)
	for _, f := range m.Fields {
		n := 3 + len(f.Name) + 1 + len(f.Value) // "(T)" name "=" value
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ':', '(', byte('0'+f.Type), ')')
		b = append(b, f.Name...)
		b = append(b, '=')
		b = append(b, f.Value...)
		b = append(b, ',')
	}
	b = append(b, endNetstring...)
	tok, err := ring.Sign(b)
	if err != nil {
		return nil, err
	}
	b = strconv.AppendInt(b, int64(len(tok)), 10)
	b = append(b, ':')
	b = append(b, tok...)
	b = append(b, ',')
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("wire: encoded message is %d bytes, over MaxMessage (%d)", len(b), MaxMessage)
	}
	return b, nil
}

// EncodeClassic renders m in the classic ">>>" text framing with the inner
// auth field set as in Encode (the only check a receiver makes on it).
// String values containing '\n' are sent with 0x13 instead, as glue does.
// Empty values cannot be represented in this framing and are an error.
func EncodeClassic(m *Message, ring *Keyring) ([]byte, error) {
	mm, err := withAuth(m, ring, true)
	if err != nil {
		return nil, err
	}
	b := appendClassic(nil, mm)
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("wire: encoded message is %d bytes, over MaxMessage (%d)", len(b), MaxMessage)
	}
	return b, nil
}

// EncodeUnsignedClassic renders m as ">>>\n name=value\n ... <<<\n" without
// adding auth, as scripts write to Heartbeat's FIFO (ha_clustermsg). It does
// not validate: a field glue cannot parse (e.g. an empty value) is written
// as glue's msg2string would write it.
func EncodeUnsignedClassic(m *Message) []byte { return appendClassic(nil, m) }

// ClassicText is what the inner auth field signs (glue msg2string_buf with
// NOHEAD): for every field not named auth, in order, "name=value\n" for a
// string ('\n' in the value written as 0x13) or "(T)name=<base64>\n".
func ClassicText(m *Message) []byte {
	var b []byte
	for _, f := range m.Fields {
		if f.Name != authName {
			b = appendClassicField(b, f)
		}
	}
	return b
}

func appendClassic(b []byte, m *Message) []byte {
	b = append(b, startClassic...)
	for _, f := range m.Fields {
		b = appendClassicField(b, f)
	}
	return append(b, endClassic...)
}

func appendClassicField(b []byte, f Field) []byte {
	if f.Type != TypeString {
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(f.Type), 10)
		b = append(b, ')')
	}
	b = append(b, f.Name...)
	b = append(b, '=')
	if f.Type == TypeString {
		for _, c := range f.Value {
			if c == '\n' {
				c = specialSym
			}
			b = append(b, c)
		}
	} else {
		b = base64.StdEncoding.AppendEncode(b, f.Value)
	}
	return append(b, '\n')
}

// withAuth returns a shallow copy of m with the inner auth field set.
func withAuth(m *Message, ring *Keyring, classic bool) (*Message, error) {
	if err := validate(m, classic); err != nil {
		return nil, err
	}
	tok, err := ring.Sign(ClassicText(m))
	if err != nil {
		return nil, err
	}
	mm := &Message{Fields: append([]Field(nil), m.Fields...)}
	mm.Set(authName, tok)
	return mm, nil
}

// validate applies the rules Decode enforces, so that whatever we send we
// would also accept.
func validate(m *Message, classic bool) error {
	if m == nil {
		return errors.New("wire: nil message")
	}
	for i, f := range m.Fields {
		if err := checkName(f.Name); err != "" {
			return fmt.Errorf("wire: field %d %q: %s", i, f.Name, err)
		}
		switch f.Type {
		case TypeString:
			if bytes.IndexByte(f.Value, 0) >= 0 {
				return fmt.Errorf("wire: field %q: NUL byte in a string value", f.Name)
			}
		case TypeBinary:
		default:
			return fmt.Errorf("wire: field %q: unsupported type %d", f.Name, f.Type)
		}
		if classic && len(f.Value) == 0 {
			return fmt.Errorf("wire: field %q: an empty value cannot be sent in classic framing", f.Name)
		}
	}
	return nil
}

// checkName returns why name is not acceptable, or "". Glue splits at the
// first '=', ends lines at '\n', treats names as C strings, and reads a
// leading '(' as a type prefix, so none of these can round-trip.
func checkName(name string) string {
	switch {
	case name == "":
		return "empty field name"
	case name[0] == '(':
		return "field name starts with '('"
	}
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '=':
			return "'=' in field name"
		case '\n':
			return "newline in field name"
		case 0:
			return "NUL in field name"
		}
	}
	return ""
}

// ---------------------------------------------------------------- decoding

// Decode parses one datagram in either framing (dispatching on its first 4
// bytes, like glue's wirefmt2msg) and authenticates it as Heartbeat does:
// a netstring packet by its trailer only (the inner auth field is kept but
// not checked), a classic packet by its inner auth field. The trailer must
// name a key index present in ring. One trailing NUL is accepted.
func Decode(pkt []byte, ring *Keyring) (*Message, error) {
	p, e := parse(pkt)
	if e != nil {
		return nil, e
	}
	if p.classic {
		tok, ok := lastAuth(p.msg)
		if !ok {
			return nil, decodeError(ReasonNoAuth, "classic message without an auth field")
		}
		if e := verify(ring, tok, ClassicText(p.msg)); e != nil {
			return nil, e
		}
		return p.msg, nil
	}
	if p.trailer == nil {
		return nil, decodeError(ReasonNoAuth, "no auth netstring after %%%%%%")
	}
	if e := verify(ring, p.trailer, pkt[:p.signedEnd]); e != nil {
		return nil, e
	}
	if p.unsupported != "" {
		return nil, p.unsupportedErr()
	}
	return p.msg, nil
}

// DecodeUnsigned parses either framing without any authentication, for
// trusted local input (the FIFO, the API socket). A netstring trailer, if
// present, must be well formed but is not checked.
func DecodeUnsigned(b []byte) (*Message, error) {
	p, e := parse(b)
	if e != nil {
		return nil, e
	}
	if p.unsupported != "" {
		return nil, p.unsupportedErr()
	}
	return p.msg, nil
}

// lastAuth returns the value of the last auth field: Heartbeat's isauthentic
// loops over all fields and keeps the last one it sees.
func lastAuth(m *Message) ([]byte, bool) {
	for i := len(m.Fields) - 1; i >= 0; i-- {
		if f := m.Fields[i]; f.Name == authName {
			return f.Value, f.Type == TypeString
		}
	}
	return nil, false
}

type parsed struct {
	msg         *Message
	classic     bool
	signedEnd   int    // netstring: offset just past "%%%\n"
	trailer     []byte // netstring: body of the auth netstring; nil if absent
	unsupported string // netstring: name of the first field of type >= 2
	unsupType   int
}

func (p *parsed) unsupportedErr() *DecodeError {
	return decodeError(ReasonUnsupported, "field %q has type %d (only string and binary are supported)", p.unsupported, p.unsupType)
}

func parse(b []byte) (*parsed, *DecodeError) {
	if len(b) > MaxMessage {
		return nil, decodeError(ReasonTooLarge, "%d bytes, over %d", len(b), MaxMessage)
	}
	if len(b) < 4 {
		if len(b) > 0 && (hasPrefix([]byte(startNetstring), b) || hasPrefix([]byte(startClassic), b)) {
			return nil, decodeError(ReasonTruncated, "%d bytes", len(b))
		}
		return nil, decodeError(ReasonFraming, "%d bytes, no start marker", len(b))
	}
	switch string(b[:4]) {
	case startNetstring:
		return parseNetstring(b)
	case startClassic:
		return parseClassic(b)
	}
	return nil, decodeError(ReasonFraming, "unknown start marker %q", b[:4])
}

func hasPrefix(b, prefix []byte) bool { return bytes.HasPrefix(b, prefix) }

// onlyNUL reports whether rest is empty or the single NUL that Heartbeat's
// readers (and msg2wirefmt_noac) append.
func onlyNUL(rest []byte) bool {
	return len(rest) == 0 || (len(rest) == 1 && rest[0] == 0)
}

func parseNetstring(b []byte) (*parsed, *DecodeError) {
	p := &parsed{msg: &Message{}}
	i := len(startNetstring)
	for {
		rest := b[i:]
		if hasPrefix(rest, []byte(endNetstring)) {
			i += len(endNetstring)
			break
		}
		if len(rest) == 0 || (len(rest) < len(endNetstring) && hasPrefix([]byte(endNetstring), rest)) || (len(rest) == 1 && rest[0] == 0) {
			return nil, decodeError(ReasonTruncated, "no %%%%%% end marker")
		}
		body, next, e := readNetstring(b, i)
		if e != nil {
			return nil, e
		}
		f, e := parseNVPair(body)
		if e != nil {
			return nil, e
		}
		if f.Type > TypeBinary && p.unsupported == "" {
			p.unsupported, p.unsupType = f.Name, f.Type
		}
		p.msg.Fields = append(p.msg.Fields, f)
		i = next
	}
	p.signedEnd = i
	if onlyNUL(b[i:]) {
		return p, nil
	}
	body, next, e := readNetstring(b, i)
	if e != nil {
		e.Detail = "auth trailer: " + e.Detail
		return nil, e
	}
	if !onlyNUL(b[next:]) {
		return nil, decodeError(ReasonFraming, "%d bytes after the auth trailer", len(b)-next)
	}
	p.trailer = body
	return p, nil
}

// readNetstring reads the netstring "<len>:<body>," at b[i:]. Unlike glue's
// cl_parse_int it does not skip junk between the digits and ':', but like
// glue it accepts leading zeros (harmless: the trailer MAC covers the bytes).
func readNetstring(b []byte, i int) (body []byte, next int, e *DecodeError) {
	j, n := i, 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		if j-i >= maxLenDigits {
			return nil, 0, decodeError(ReasonFraming, "netstring length at offset %d has too many digits", i)
		}
		n = n*10 + int(b[j]-'0')
		j++
	}
	switch {
	case j == len(b):
		return nil, 0, decodeError(ReasonTruncated, "netstring length at offset %d", i)
	case j == i:
		return nil, 0, decodeError(ReasonFraming, "expected a netstring length at offset %d, got %q", i, b[j])
	case b[j] != ':':
		return nil, 0, decodeError(ReasonFraming, "expected ':' at offset %d, got %q", j, b[j])
	}
	j++
	if n >= len(b)-j {
		return nil, 0, decodeError(ReasonTruncated, "netstring at offset %d claims %d bytes, %d left", i, n, len(b)-j)
	}
	if b[j+n] != ',' {
		return nil, 0, decodeError(ReasonFraming, "netstring at offset %d not terminated by ','", i)
	}
	return b[j : j+n], j + n + 1, nil
}

// parseNVPair parses "(T)name=value" (glue process_netstring_nvpair). The
// value is raw bytes for every type; it is copied so the message does not
// alias the packet buffer.
func parseNVPair(body []byte) (Field, *DecodeError) {
	if len(body) < 5 || body[0] != '(' || body[1] < '0' || body[1] > '9' || body[2] != ')' {
		return Field{}, decodeError(ReasonFraming, "field %q does not start with (T)", clipDetail(body))
	}
	typ := int(body[1] - '0')
	rest := body[3:]
	eq := bytes.IndexByte(rest, '=')
	if eq < 0 {
		return Field{}, decodeError(ReasonFraming, "field %q has no '='", clipDetail(body))
	}
	name := string(rest[:eq])
	if why := checkName(name); why != "" {
		return Field{}, decodeError(ReasonFraming, "%s: %q", why, clipDetail(body))
	}
	val := rest[eq+1:]
	if typ == TypeString && bytes.IndexByte(val, 0) >= 0 {
		// glue's message audit aborts on a string whose strlen differs.
		return Field{}, decodeError(ReasonFraming, "field %q: NUL byte in a string value", name)
	}
	return Field{Name: name, Type: typ, Value: append([]byte{}, val...)}, nil
}

// parseClassic parses ">>>\n" { "[(T)]name=value\n" } "<<<\n" as glue's
// string2msg_ll: blank lines are skipped; empty values fail; a "(1)" prefix
// marks base64 binary; 0x13 in a string value stands for '\n'. Unlike glue
// (which stops at a NUL), the "<<<" end marker is required.
func parseClassic(b []byte) (*parsed, *DecodeError) {
	p := &parsed{msg: &Message{}, classic: true}
	i := len(startClassic)
	for {
		for i < len(b) && b[i] == '\n' {
			i++
		}
		rest := b[i:]
		if hasPrefix(rest, []byte(endClassic)) {
			i += len(endClassic)
			break
		}
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, decodeError(ReasonTruncated, "no <<< end marker")
		}
		f, e := parseLine(rest[:nl])
		if e != nil {
			return nil, e
		}
		p.msg.Fields = append(p.msg.Fields, f)
		i += nl + 1
	}
	if !onlyNUL(b[i:]) {
		return nil, decodeError(ReasonFraming, "%d bytes after <<<", len(b)-i)
	}
	return p, nil
}

func parseLine(line []byte) (Field, *DecodeError) {
	if bytes.IndexByte(line, 0) >= 0 {
		return Field{}, decodeError(ReasonFraming, "NUL byte in line %q", clipDetail(line))
	}
	eq := bytes.IndexByte(line, '=')
	if eq <= 0 {
		return Field{}, decodeError(ReasonFraming, "line %q is not name=value", clipDetail(line))
	}
	name, val := line[:eq], line[eq+1:]
	typ := TypeString
	if name[0] == '(' {
		if len(name) < 3 || name[1] < '0' || name[1] > '9' || name[2] != ')' {
			return Field{}, decodeError(ReasonFraming, "bad type prefix in %q", clipDetail(line))
		}
		typ = int(name[1] - '0')
		name = name[3:]
		if typ == TypeString {
			return Field{}, decodeError(ReasonFraming, "type prefix (0) in %q", clipDetail(line))
		}
	}
	if why := checkName(string(name)); why != "" {
		return Field{}, decodeError(ReasonFraming, "%s: %q", why, clipDetail(line))
	}
	if len(val) == 0 {
		return Field{}, decodeError(ReasonFraming, "field %q has an empty value", name)
	}
	switch typ {
	case TypeString:
		v := append([]byte{}, val...)
		for k, c := range v {
			if c == specialSym {
				v[k] = '\n'
			}
		}
		return Field{Name: string(name), Type: typ, Value: v}, nil
	case TypeBinary:
		v, err := base64.StdEncoding.AppendDecode(nil, val)
		if err != nil {
			return Field{}, decodeError(ReasonFraming, "field %q: bad base64: %v", name, err)
		}
		return Field{Name: string(name), Type: typ, Value: v}, nil
	}
	// Nested messages, lists and compressed fields would need glue's
	// recursive encodings; classic Heartbeat never sends them.
	return Field{}, decodeError(ReasonUnsupported, "field %q has type %d (only string and binary are supported)", name, typ)
}
