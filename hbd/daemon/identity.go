package daemon

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// loadUUID reads the node UUID (16 raw bytes, Heartbeat's hb_uuid) or creates
// it. Replacing a Heartbeat node keeps its UUID, so peers' host caches agree.
func loadUUID(dir string) ([]byte, error) {
	path := filepath.Join(dir, "hb_uuid")
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 16 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	u := make([]byte, 16)
	if _, err := rand.Read(u); err != nil {
		return nil, err
	}
	u[6] = u[6]&0x0f | 0x40 // RFC 4122 version 4, as uuid_generate makes
	u[8] = u[8]&0x3f | 0x80
	if err := writeFileSync(path, u, 0o644); err != nil {
		return nil, err
	}
	return u, nil
}

// nextGeneration implements hbgenmethod: "file" reads hb_generation
// ("%15lu\n"), adds one and writes it back with fsync before use; a missing
// file starts from the current time, as Heartbeat does. "time" uses the time.
func nextGeneration(dir, method string, now time.Time) (uint64, error) {
	if method == "time" {
		return uint64(now.Unix()), nil
	}
	path := filepath.Join(dir, "hb_generation")
	gen := uint64(now.Unix())
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		g, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("%s: bad generation %q", path, strings.TrimSpace(string(b)))
		}
		gen = g + 1
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	if err := writeFileSync(path, []byte(fmt.Sprintf("%15d\n", gen)), 0o644); err != nil {
		return 0, err
	}
	return gen, nil
}

func writeFileSync(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// NodeName is the local node name: the first line of nodeinfo in the config
// directory when that line ends in a newline, else uname -n; lowercased.
func NodeName(confDir string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(confDir, "nodeinfo")); err == nil {
		if i := strings.IndexByte(string(b), '\n'); i > 0 {
			return strings.ToLower(strings.TrimSpace(string(b[:i]))), nil
		}
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("node name: %w", err)
	}
	return strings.ToLower(h), nil
}

// loadFile reads the ld field of every sequenced message, /proc/loadavg as
// Heartbeat sends it. The file stays open: a read at offset 0 renders it
// afresh, one system call instead of the nine of opening it each time on
// the path of every heartbeat and resource message.
type loadFile struct {
	f   *os.File
	buf [128]byte
}

func openLoadFile(path string) *loadFile {
	f, err := os.Open(path)
	if err != nil {
		return &loadFile{}
	}
	return &loadFile{f: f}
}

// read returns the file's line, or "n/a" when it cannot be read.
func (l *loadFile) read() string {
	if l.f == nil {
		return "n/a"
	}
	n, err := l.f.ReadAt(l.buf[:], 0)
	if n == 0 && err != nil {
		return "n/a"
	}
	return strings.TrimRight(string(l.buf[:n]), "\n")
}

func (l *loadFile) close() {
	if l.f != nil {
		l.f.Close()
	}
}
