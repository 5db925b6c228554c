package director

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/adminstate"
	"lvsha/ldird/check"
)

// Drain keeps a real at weight 0 whatever its check says, disable takes it
// out, enable gives it back to its check; with every real drained the
// fallback serves.
func TestPlannerAdmin(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "quiescent=no\nfallback=127.0.0.1:8080 masq", "")))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	v := s.cfg.Virtuals[0]
	a, b := v.Reals[0], v.Reals[1]
	set := func(r string, st AdminState) {
		s.p.setAdmin(adminstate.Set(s.p.admin, adminKey{Virtual: v.Key(), Real: r}, st, "test", s.now))
	}

	set(realA, AdminDrained)
	eq(t, "drain", s.pass(), []string{"UpdateDest " + svcKey + " " + realA + " gate w=0"})
	if s.p.Up(v, a) {
		t.Fatal("a drained real counts as up")
	}
	// Its check still runs and changes nothing while drained.
	s.down("10.0.1.2")
	eq(t, "table calls for a drained real failing", len(s.pass()), 0)
	s.up("10.0.1.2")
	eq(t, "table calls for a drained real passing", len(s.pass()), 0)

	set(realB, AdminDisabled)
	eq(t, "disable the last real: fallback", s.pass(), []string{
		"AddDest " + svcKey + " 127.0.0.1:8080 masq w=1", "DelDest " + svcKey + " " + realB + " gate w=2"})

	set(realB, AdminEnabled)
	eq(t, "enable", s.pass(), []string{
		"AddDest " + svcKey + " " + realB + " gate w=2", "DelDest " + svcKey + " 127.0.0.1:8080 masq w=1"})
	if s.p.Admin(v, b) != AdminEnabled || len(s.p.view().admin) != 1 {
		t.Fatalf("after enable: %v, published %v", s.p.Admin(v, b), s.p.view().admin)
	}
	// Enabling a real whose check fails leaves it to its check.
	s.down("10.0.1.2")
	set(realA, AdminEnabled)
	eq(t, "enable a failing real (quiescent=no)", s.pass(), []string{"DelDest " + svcKey + " " + realA + " gate w=0"})
}

// The admin file: written atomically, read back, and a broken one refused
// with its name.
func TestAdminFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ldird.test.admin")
	m, err := loadAdmin(path)
	if err != nil || len(m) != 0 {
		t.Fatalf("missing file: %v %v", m, err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m[adminKey{Virtual: svcKey, Real: realA}] = AdminEntry{Virtual: svcKey, Real: realA, State: AdminDrained, By: "alice", At: at}
	m[adminKey{Virtual: svcKey, Real: realB}] = AdminEntry{Virtual: svcKey, Real: realB, State: AdminDisabled, By: "bob", At: at}
	if err := saveAdmin(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := loadAdmin(path)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "read back", back, m)
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	for _, bad := range []string{"{", `{"version":2,"reals":[]}`, `{"version":1,"reals":[{"virtual":"x","real":"y","state":"enable"}]}`} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := loadAdmin(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: err %v, want one naming the file", bad, err)
		}
	}
}

// SetAdmin on the running director: the table follows before it returns,
// the file is written, unknown names are refused, and a new director over
// the same file starts with the real drained (a restart keeps it).
func TestDirectorSetAdminPersists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin")
	dp := newFake()
	h := newHarness(t, dp, func(o *Options) { o.AdminFile = file })
	text := fmt.Sprintf(baseCf, "quiescent=yes\ncleanstop=no", "")
	h.start(text)
	h.waitCalls("AddService "+svcKey, "AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=2")
	h.dp.reset()

	if err := h.d.SetAdmin("10.0.0.100:80", realB, AdminDrained, "alice"); err != nil {
		t.Fatal(err)
	}
	eq(t, "calls when SetAdmin returns", h.dp.calls(), []string{"UpdateDest " + svcKey + " " + realB + " gate w=0"})
	det := h.d.Detail()
	rb := det.Virtuals[0].Reals[1]
	if rb.Admin != AdminDrained || rb.AdminBy != "alice" || rb.Up || !rb.InTable || rb.TableWeight != 0 {
		t.Fatalf("detail of the drained real: %+v", rb)
	}
	if ents := h.d.AdminEntries(); len(ents) != 1 || ents[0].Real != realB {
		t.Fatalf("AdminEntries: %+v", ents)
	}
	for _, c := range []struct{ v, r, want string }{
		{"10.0.0.99:80", realA, "no virtual 10.0.0.99:80"},
		{svcKey, "10.0.1.9:80", "has no real 10.0.1.9:80"},
	} {
		if err := h.d.SetAdmin(c.v, c.r, AdminDisabled, "x"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetAdmin(%s, %s): %v, want %q", c.v, c.r, err, c.want)
		}
	}
	if err := h.d.SetAdmin(svcKey, realA, "halt", "x"); err == nil {
		t.Error("unknown state accepted")
	}
	h.d.Stop()

	// A restart over the same table: real B stays at weight 0 although
	// its check passes, and nothing else changes.
	dp.reset()
	h2 := newHarness(t, dp, func(o *Options) { o.AdminFile = file })
	h2.start(text)
	h2.waitCalls()
	if st := h2.d.Detail().Virtuals[0].Reals[1]; st.Admin != AdminDrained || st.TableWeight != 0 || st.State != check.Up {
		t.Fatalf("after the restart: %+v", st)
	}
	if err := h2.d.SetAdmin(svcKey, realB, AdminEnabled, "alice"); err != nil {
		t.Fatal(err)
	}
	eq(t, "enable after the restart", dp.calls(), []string{"UpdateDest " + svcKey + " " + realB + " gate w=2"})
	m, _ := loadAdmin(file)
	if len(m) != 0 {
		t.Fatalf("admin file after enable: %v", m)
	}

	// A file that cannot be written refuses the change and changes nothing.
	dp.reset()
	h2.d.o.AdminFile = filepath.Join(file, "not-a-dir", "admin")
	if err := h2.d.SetAdmin(svcKey, realA, AdminDisabled, "alice"); err == nil {
		t.Fatal("SetAdmin with an unwritable file succeeded")
	}
	h2.settle()
	eq(t, "calls after a refused SetAdmin", dp.calls(), []string{})
}

// A broken admin file refuses the start.
func TestDirectorStartRefusesBrokenAdminFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin")
	os.WriteFile(file, []byte("not json"), 0o644)
	h := newHarness(t, newFake(), func(o *Options) { o.AdminFile = file })
	err := h.d.Start(t.Context(), parse(t, fmt.Sprintf(baseCf, "", "")))
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Start: %v, want an error naming %s", err, file)
	}
}

// The check history: the last RecentChecks results in order, per-minute
// buckets of the last hour, the detail of a failure, and checks removed by
// a reload forgotten.
func TestCheckHistory(t *testing.T) {
	h := newCheckHistory()
	t0 := time.Date(2025, 1, 1, 10, 0, 30, 0, time.UTC)
	for i := range RecentChecks + 5 {
		res := check.Result{OK: true, Latency: time.Duration(i+1) * time.Millisecond, Detail: "HTTP/1.0 200 OK"}
		st := check.Up
		if i == RecentChecks+4 {
			res = check.Result{Err: errors.New("connection refused"), Latency: time.Millisecond, Detail: "ignored"}
			st = check.Down
		}
		h.entry("k").hist.record(check.Event{Key: "k", Result: res, State: st}, t0.Add(time.Duration(i)*10*time.Second))
	}
	now := t0.Add(time.Duration(RecentChecks+4) * 10 * time.Second)
	recent, buckets := h.get("k", now)
	if len(recent) != RecentChecks {
		t.Fatalf("%d recent results, want %d", len(recent), RecentChecks)
	}
	if recent[0].Latency != 6*time.Millisecond || !recent[0].OK {
		t.Errorf("oldest kept: %+v", recent[0])
	}
	last := recent[len(recent)-1]
	if last.OK || last.Detail != "connection refused" || last.Outcome != OutcomeFailed || last.Up {
		t.Errorf("last: %+v", last)
	}
	// 25 results 10 s apart from 10:00:30: minutes 10:00 (3), 10:01 (6),
	// 10:02 (6), 10:03 (6), 10:04 (4, the last one failed).
	var counts []int
	for i, b := range buckets {
		counts = append(counts, b.OK+b.Failed)
		if i > 0 && !b.Start.After(buckets[i-1].Start) {
			t.Fatalf("buckets out of order: %v", buckets)
		}
	}
	eq(t, "bucket counts", counts, []int{3, 6, 6, 6, 4})
	if b := buckets[4]; b.Failed != 1 || !b.Down || b.MaxLatency != 24*time.Millisecond {
		t.Errorf("last bucket: %+v", b)
	}
	// An hour later the buckets are gone; the recent results stay.
	recent, buckets = h.get("k", now.Add(time.Hour))
	if len(buckets) != 0 || len(recent) != RecentChecks {
		t.Errorf("an hour later: %d buckets, %d results", len(buckets), len(recent))
	}
	h.retain(func(string, *checkTag) bool { return false })
	if r, b := h.get("k", now); r != nil || b != nil {
		t.Error("history kept for a removed check")
	}
}
