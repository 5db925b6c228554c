package lvscf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse reads arbitrary text as lvs.cf: it must never panic, and every
// error must name a line.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/corpus/piranha/*/lvs.cf")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("virtual a {\n server b {\n x = \"#\\\"\" # c\n}\n}\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseBytes("lvs.cf", data)
		var es Errors
		if err != nil {
			if !errors.As(err, &es) {
				t.Fatalf("unexpected error type %T", err)
			}
			for _, e := range es {
				if e.Line < 1 {
					t.Fatalf("error without a line: %v", e)
				}
			}
		}
	})
}
