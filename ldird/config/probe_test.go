package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNoCreate: with NoCreate the file checks refuse what the opening
// checks refuse, with the same error, and create nothing.
func TestNoCreate(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.log")
	if err := os.WriteFile(exists, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		errIs      error // the cause of the refusal; nil: accepted
	}{
		{"existing file", exists, nil},
		{"new file in an existing directory", filepath.Join(dir, "new.log"), nil},
		{"missing directory", filepath.Join(dir, "no", "x.log"), fs.ErrNotExist},
		{"a directory", dir, syscall.EISDIR},
		{"under a regular file", filepath.Join(exists, "x.log"), syscall.ENOTDIR},
	} {
		text := minimal + "\tmonitorfile=" + c.path + "\n"
		probe := newFake().opts()
		probe.FileChecks, probe.NoCreate = true, true
		_, perr := ParseBytes("ld.cf", []byte(text), probe)
		_, statErr := os.Stat(c.path)
		created := c.path != exists && c.path != dir && statErr == nil
		if created {
			t.Errorf("%s: NoCreate created %s", c.name, c.path)
		}
		open := newFake().opts()
		open.FileChecks = true
		_, oerr := ParseBytes("ld.cf", []byte(text), open)
		os.Remove(filepath.Join(dir, "new.log"))
		switch {
		case (perr == nil) != (oerr == nil):
			t.Errorf("%s: probe %v, open %v", c.name, perr, oerr)
		case perr != nil && perr.Error() != oerr.Error():
			t.Errorf("%s: probe says %q, open %q", c.name, perr, oerr)
		case (c.errIs == nil) != (perr == nil) || c.errIs != nil && !errors.Is(perr, c.errIs):
			t.Errorf("%s: %v is not %v", c.name, perr, c.errIs)
		case perr != nil && !strings.HasPrefix(perr.Error(), "ld.cf:3: unable to open monitorfile"):
			t.Errorf("%s: %v", c.name, perr)
		}
	}
}
