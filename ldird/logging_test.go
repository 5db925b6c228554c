package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestForegroundJournal: in the foreground, a stderr that systemd
// connected to the journal gets priority-prefixed lines, any other
// stream plain slog text.
func TestForegroundJournal(t *testing.T) {
	journal := filepath.Join(t.TempDir(), "journal")
	f, err := os.Create(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := os.Stat(journal)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino)) // as systemd sets it
	h, _, err := newLogHandler(false, true, false, "", f)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Warn("to the journal")
	other, err := os.CreateTemp(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	h2, _, err := newLogHandler(false, true, false, "", other)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h2).Warn("plain")
	b, _ := os.ReadFile(f.Name())
	if string(b) != "<4>level=WARN msg=\"to the journal\"\n" {
		t.Errorf("journal stream got %q", b)
	}
	b, _ = io.ReadAll(io.NewSectionReader(other, 0, 1<<20))
	if !strings.HasPrefix(string(b), "time=") || !strings.Contains(string(b), `msg=plain`) {
		t.Errorf("plain stream got %q", b)
	}
}

func TestLogDestinations(t *testing.T) {
	dir := t.TempDir()
	// An absolute logfile is appended to, reopened for every record.
	path := dir + "/ld.log"
	h, closer, err := newLogHandler(false, false, false, path, io.Discard)
	if err != nil || closer != nil {
		t.Fatalf("file handler: %v %v", closer, err)
	}
	slog.New(h).Info("one")
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	slog.New(h).Info("two")
	for p, want := range map[string]string{path + ".1": "msg=one", path: "msg=two"} {
		if b, err := os.ReadFile(p); err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if _, _, err := newLogHandler(false, false, false, "local9", io.Discard); err == nil ||
		!strings.Contains(err.Error(), "neither an absolute path nor a syslog facility") {
		t.Errorf("unknown facility: %v", err)
	}
}
