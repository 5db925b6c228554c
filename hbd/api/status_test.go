package api

import (
	"errors"
	"net"
	"testing"
)

type statusBackend struct {
	*fakeBackend
	doc []byte
	err error
}

func (s *statusBackend) StatusJSON() ([]byte, error) { return s.doc, s.err }

// The status operation: the document for readers (haclient included),
// an error from the backend passed on, and a clear refusal from a backend
// without it.
func TestStatusOperation(t *testing.T) {
	b := &statusBackend{fakeBackend: newFake(), doc: []byte(`{"api":"lvsha.hbd/v1","node":"alpha"}`)}
	s, _ := start(t, b, func(s *Server) {
		s.peerCred = func(*net.UnixConn) (Cred, error) { return Cred{UID: 1000, GID: 90, PID: 4242}, nil }
		s.auth = &authorizer{groupGID: func() (uint32, bool) { return 90, true }, groups: func(Cred) []uint32 { return nil }}
	})
	c, err := Dial(s.Path(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Status()
	if err != nil || string(got) != string(b.doc) {
		t.Fatalf("Status: %s %v", got, err)
	}
	b.err = errors.New("not ready")
	if _, err := c.Status(); err == nil || err.Error() != "not ready" {
		t.Fatalf("backend error: %v", err)
	}

	s2, _ := start(t, newFake(), nil)
	c2, err := Dial(s2.Path(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var e *Error
	if _, err := c2.Status(); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("backend without status: %v", err)
	}
}
