// Package wire is Heartbeat 3.0.6's message format: the message model, the
// netstring ("###") and classic (">>>") framings, and the crc/md5/sha1
// authentication of both the trailer and the inner auth field, byte-exact
// with cluster-glue's libplumb (shared/spec/wire.md sections 2-4). It also
// names the message types, fields and recurring values (names.go), so no
// other package spells them.
package wire

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
)

// Field types as numbered by cluster-glue (FT_STRING, FT_BINARY). Types 2..5
// (struct, list, compressed, uncompressed) exist in glue but classic Heartbeat
// never sends them; Decode rejects them with ReasonUnsupported.
const (
	TypeString = 0
	TypeBinary = 1
)

// Field is one (name, type, value) entry of a message.
type Field struct {
	Name  string
	Type  int
	Value []byte
}

// Message is an ordered list of fields. Duplicate names are allowed, as in
// glue; lookups return the first field of a name.
type Message struct {
	Fields []Field
}

// New returns a message whose only field is t=<t>.
func New(t string) *Message {
	return &Message{Fields: []Field{{Name: FieldType, Type: TypeString, Value: []byte(t)}}}
}

func (m *Message) index(name string) int {
	if m == nil {
		return -1
	}
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// Type returns the message type, the value of field "t".
func (m *Message) Type() string { return m.Get(FieldType) }

// Get returns the value of the first field called name if it is a string
// field, else "".
func (m *Message) Get(name string) string {
	v, _ := m.Lookup(name)
	return v
}

// Lookup is Get that also reports presence. Like glue's cl_get_string, only
// the first field of that name is considered: if it is binary, ok is false.
func (m *Message) Lookup(name string) (string, bool) {
	i := m.index(name)
	if i < 0 || m.Fields[i].Type != TypeString {
		return "", false
	}
	return string(m.Fields[i].Value), true
}

// Binary returns a copy of the value of the first field called name if it is
// a binary field.
func (m *Message) Binary(name string) ([]byte, bool) {
	i := m.index(name)
	if i < 0 || m.Fields[i].Type != TypeBinary {
		return nil, false
	}
	return append([]byte{}, m.Fields[i].Value...), true
}

// Set modifies the first field called name, or appends a string field:
// Heartbeat's ha_msg_mod, which keeps the field's position. Unlike glue (which
// refuses a type mismatch), an existing binary field becomes a string field.
func (m *Message) Set(name, value string) { m.set(name, TypeString, []byte(value)) }

// SetBinary is Set for a binary field (e.g. the 16-byte srcuuid/destuuid).
func (m *Message) SetBinary(name string, v []byte) {
	m.set(name, TypeBinary, append([]byte{}, v...))
}

// set always stores a fresh slice so that a shallow copy of Fields (see
// Encode) never shares an updated value with the caller's message.
func (m *Message) set(name string, typ int, v []byte) {
	if i := m.index(name); i >= 0 {
		m.Fields[i].Type = typ
		m.Fields[i].Value = v
		return
	}
	m.Fields = append(m.Fields, Field{Name: name, Type: typ, Value: v})
}

// Del removes every field called name.
func (m *Message) Del(name string) {
	out := m.Fields[:0]
	for _, f := range m.Fields {
		if f.Name != name {
			out = append(out, f)
		}
	}
	// Clear the tail so dropped values can be collected.
	for i := len(out); i < len(m.Fields); i++ {
		m.Fields[i] = Field{}
	}
	m.Fields = out
}

// Clone returns a deep copy.
func (m *Message) Clone() *Message {
	if m == nil {
		return nil
	}
	c := &Message{Fields: make([]Field, len(m.Fields))}
	for i, f := range m.Fields {
		c.Fields[i] = Field{Name: f.Name, Type: f.Type, Value: append([]byte{}, f.Value...)}
	}
	return c
}

// String renders the message on one line for logs: {t=status st=active
// (1)srcuuid=<hex> ...}. String values that are empty or contain blanks or
// non-printable bytes are quoted. The auth values are MACs, not secrets, so
// they are shown.
func (m *Message) String() string {
	if m == nil {
		return "{}"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range m.Fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		if f.Type != TypeString {
			b.WriteString("(" + strconv.Itoa(f.Type) + ")")
		}
		b.WriteString(f.Name)
		b.WriteByte('=')
		switch {
		case f.Type != TypeString:
			b.WriteString(hex.EncodeToString(f.Value))
		case needsQuote(f.Value):
			b.WriteString(strconv.Quote(string(f.Value)))
		default:
			b.Write(f.Value)
		}
	}
	b.WriteByte('}')
	return b.String()
}

func needsQuote(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	return bytes.ContainsFunc(v, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || r == '"' || r == '}'
	})
}
