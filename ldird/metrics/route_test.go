package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"lvsha/ldird/director"
)

// Handle adds a route next to /metrics on the listeners opened after it
// (the JSON status API shares the metrics listener).
func TestHandleRoute(t *testing.T) {
	m := New(SourceFunc(func() director.Snapshot { return director.Snapshot{} }), Options{Version: "v", Dataplane: "userspace"})
	m.Handle("/api/v1/status", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"api":"x"}`) }))
	s, err := Listen("127.0.0.1:0", m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]string{"/api/v1/status": `{"api":"x"}`, "/metrics": "ldird_info"} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, b[:min(len(b), 100)])
		}
	}
}
