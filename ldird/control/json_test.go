package control

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// jsonBackend also answers status-json and admin.
type jsonBackend struct {
	fakeBackend
	mu   sync.Mutex
	reqs []AdminRequest
	fail error
}

func (j *jsonBackend) WriteStatusJSON(w io.Writer) error {
	_, err := io.WriteString(w, `{"api":"lvsha.ldird/v1","virtuals":[]}`+"\n")
	return err
}

func (j *jsonBackend) SetAdmin(req AdminRequest) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.reqs = append(j.reqs, req)
	return j.fail
}

func TestStatusJSONAndAdmin(t *testing.T) {
	b := &jsonBackend{}
	_, path := serve(t, b)
	got, err := StatusJSON(path)
	if err != nil || string(got) != `{"api":"lvsha.ldird/v1","virtuals":[]}` {
		t.Fatalf("StatusJSON: %q %v", got, err)
	}
	req := AdminRequest{Virtual: "tcp 10.0.0.1:80", Real: "10.0.1.2:80", State: "drain", By: "alice"}
	if err := Admin(path, req); err != nil {
		t.Fatal(err)
	}
	b.fail = errors.New("virtual tcp 10.0.0.1:80 has no real 10.0.1.9:80\nsecond line")
	err = Admin(path, AdminRequest{Virtual: "tcp 10.0.0.1:80", Real: "10.0.1.9:80", State: "disable"})
	if err == nil || err.Error() != "virtual tcp 10.0.0.1:80 has no real 10.0.1.9:80; second line" {
		t.Fatalf("refused admin: %v", err)
	}
	if len(b.reqs) != 2 || b.reqs[0] != req {
		t.Fatalf("backend saw %+v", b.reqs)
	}
	// Malformed and incomplete requests never reach the backend.
	for _, line := range []string{
		"admin {", `admin {"virtual":"v","real":"r"}`, `admin {"virtual":"v","real":"r","state":"drain","extra":1}`,
	} {
		if ans := ask(t, path, line); !strings.HasPrefix(ans, "error: ") {
			t.Errorf("%q answered %q", line, ans)
		}
	}
	if len(b.reqs) != 2 {
		t.Fatalf("backend saw malformed requests: %+v", b.reqs)
	}
}

// A backend without the JSON requests answers them as unknown, which the
// client reports as ErrNotServed.
func TestStatusJSONNotServed(t *testing.T) {
	_, path := serve(t, &fakeBackend{status: "x"})
	if _, err := StatusJSON(path); !errors.Is(err, ErrNotServed) {
		t.Fatalf("StatusJSON: %v", err)
	}
	if err := Admin(path, AdminRequest{Virtual: "v", Real: "r", State: "drain"}); !errors.Is(err, ErrNotServed) {
		t.Fatalf("Admin: %v", err)
	}
	if _, err := StatusJSON(path + ".missing"); !errors.Is(err, ErrNotServed) {
		t.Fatalf("StatusJSON without a daemon: %v", err)
	}
}

func ask(t *testing.T, path, line string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, line)
	b, _ := io.ReadAll(c)
	return strings.TrimSpace(string(b))
}
