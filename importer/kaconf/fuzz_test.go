package kaconf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse reads arbitrary text as keepalived.conf: it must never panic,
// and every error must name a line of the file. Includes see no files.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/corpus/keepalived/*/keepalived.conf")
	samples, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*")
	for _, p := range append(seeds, samples...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("$A=${A}x\nv $A\n~SEQ(N, 1, 100000) x $N\n@a @b c { d } }\n'\"\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := Options{
			ConfigID: "lb1",
			ReadFile: func(p string) ([]byte, error) {
				if p == "main.conf" {
					return data, nil
				}
				return nil, os.ErrNotExist
			},
			Glob: func(string) ([]string, error) { return nil, nil },
		}
		cfg, err := Parse("main.conf", opt)
		var es Errors
		switch {
		case err == nil:
			if cfg == nil {
				t.Fatal("no config and no error")
			}
		case errors.As(err, &es):
			for _, e := range es {
				if e.Pos.File != "main.conf" || e.Pos.Line < 1 {
					t.Fatalf("error without a line: %v", e)
				}
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}
