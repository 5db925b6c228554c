package statusapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

var t0 = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)

func TestReloadsBounded(t *testing.T) {
	var rl Reloads
	for i := range MaxReloads + 5 {
		rl.Add(t0.Add(time.Duration(i)*time.Second), "sighup", fmt.Errorf("read: %d", i))
	}
	l := rl.List()
	if len(l) != MaxReloads || l[0].At != t0.Add(5*time.Second) || l[len(l)-1].Errors[0].Message != fmt.Sprintf("read: %d", MaxReloads+4) {
		t.Fatalf("history: %d entries, first %v", len(l), l[0].At)
	}
}

func TestHandler(t *testing.T) {
	h := Handler(func() *Status { return &Status{API: API, Virtuals: []Virtual{}, Reloads: []Reload{}} })
	for _, c := range []struct {
		method string
		code   int
	}{{"GET", 200}, {"HEAD", 200}, {"POST", 405}, {"DELETE", 405}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, Path, nil))
		if rec.Code != c.code {
			t.Errorf("%s: %d, want %d", c.method, rec.Code, c.code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", c.method, ct)
		}
		if c.code == http.StatusMethodNotAllowed {
			var e map[string]string
			if json.Unmarshal(rec.Body.Bytes(), &e); e["error"] == "" || rec.Header().Get("Allow") == "" {
				t.Errorf("%s: body %q", c.method, rec.Body)
			}
		}
	}
	if _, err := Decode([]byte(`{"api":"lvsha.hbd/v1"}`)); err == nil {
		t.Error("another API's document decoded")
	}
}
