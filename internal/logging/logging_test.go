package logging

import (
	"bytes"
	"fmt"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

func TestJournal(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewJournal(&b, slog.LevelInfo)).With("cfg", "ldirectord.cf")
	log.Debug("hidden")
	log.Info("Added real server", "server", "10.0.0.2:80")
	log.WithGroup("g").Warn("Quiescent real server", "k", 1)
	log.Error("multi\nline")
	want := "<6>level=INFO msg=\"Added real server\" cfg=ldirectord.cf server=10.0.0.2:80\n" +
		"<4>level=WARN msg=\"Quiescent real server\" cfg=ldirectord.cf g.k=1\n" +
		"<3>level=ERROR msg=\"multi\\nline\" cfg=ldirectord.cf\n"
	if b.String() != want {
		t.Fatalf("journal lines:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	slog.New(NewJournal(&b, slog.LevelDebug)).Debug("shown")
	if b.String() != "<7>level=DEBUG msg=shown\n" {
		t.Errorf("debug line %q", b.String())
	}
}

func TestJournalStream(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if JournalStream(f) {
		t.Fatal("journal without JOURNAL_STREAM")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !JournalStream(f) {
		t.Fatal("JOURNAL_STREAM matching the file not detected")
	}
	other, err := os.CreateTemp(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if JournalStream(other) {
		t.Fatal("another file taken for the journal stream")
	}
}

func TestFacility(t *testing.T) {
	for _, c := range []struct {
		name string
		want syslog.Priority
		ok   bool
	}{
		{"daemon", syslog.LOG_DAEMON, true},
		{"LOCAL7", syslog.LOG_LOCAL7, true},
		{"authpriv", syslog.LOG_AUTHPRIV, true},
		{"/var/log/x", 0, false},
		{"", 0, false},
	} {
		if f, ok := Facility(c.name); f != c.want || ok != c.ok {
			t.Errorf("Facility(%q) = %v %v", c.name, f, ok)
		}
	}
	if _, err := NewSyslog("nosuch", "x", slog.LevelInfo); err == nil {
		t.Error("unknown facility accepted")
	}
}

// TestSyslog reads what the handler sends from a socket standing in for
// /dev/log: one message per record, facility and priority in <PRI>.
func TestSyslog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := syslog.Dial("unixgram", path, syslog.LOG_LOCAL3|syslog.LOG_INFO, "ldirectord")
	if err != nil {
		t.Fatal(err)
	}
	h := newSyslog(w, slog.LevelInfo)
	defer h.Close()
	log := slog.New(h).With("pid", 7)
	log.Debug("dropped")
	log.Info("up", "k", "v")
	log.Warn("odd")
	log.Error("bad")
	local3 := 19 << 3
	for _, want := range []struct {
		pri  int
		text string
	}{
		{local3 + 6, `level=INFO msg=up pid=7 k=v`},
		{local3 + 4, `level=WARN msg=odd pid=7`},
		{local3 + 3, `level=ERROR msg=bad pid=7`},
	} {
		buf := make([]byte, 2048)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(fmt.Sprintf(`^<%d>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d ldirectord\[\d+\]: %s\n?$`, want.pri, regexp.QuoteMeta(want.text)))
		if !re.Match(buf[:n]) {
			t.Errorf("syslog message %q, want <%d> ... %s", buf[:n], want.pri, want.text)
		}
	}
	// The debug record was dropped, not queued behind the others.
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 2048)
	if n, err := c.Read(buf); err == nil {
		t.Errorf("unexpected message %q", buf[:n])
	}
}
