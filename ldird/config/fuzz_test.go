package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: the parser never panics, reports only lines that exist, and
// returns either a config or an Errors list.
func FuzzParse(f *testing.F) {
	// A realistic file and a copy of the sample in ha.d.
	for _, p := range []string{"testdata/ldirectord.cf", "testdata/ha.d-ldirectord.cf"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range diffCases {
		f.Add([]byte(tc.text))
	}
	f.Add([]byte("virtual=1\n\treal=10.0.0.1->10.0.255.255 gate\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := newFake().opts()
		opts.MaxReals = 1024 // bounded allocation however large a range is
		c, err := ParseBytes("f.cf", data, opts)
		nlines := strings.Count(string(data), "\n") + 1
		if err != nil {
			var es Errors
			if c != nil || !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("bad error result: %v %v", c, err)
			}
			for _, e := range es {
				if e.Line < 0 || e.Line > nlines || !strings.HasPrefix(e.Error(), "f.cf:") {
					t.Fatalf("bad error %q (lines %d)", e.Error(), nlines)
				}
			}
			return
		}
		n := 0
		seen := map[string]bool{}
		for _, v := range c.Virtuals {
			if seen[v.Key()] || v.Line < 1 || v.Line > nlines {
				t.Fatalf("virtual %q line %d", v.Key(), v.Line)
			}
			seen[v.Key()] = true
			if v.Protocol != "fwm" && !v.Addr.IsValid() || v.Protocol == "fwm" && v.FWMark == 0 {
				t.Fatalf("virtual %+v", v)
			}
			if !strings.HasPrefix(v.Check.Request, "/") || v.Check.CheckTimeout <= 0 || v.Check.NegotiateTimeout <= 0 {
				t.Fatalf("check %+v", v.Check)
			}
			for _, r := range v.Reals {
				n++
				if !r.Addr.IsValid() || r.Addr.Is6() != v.IPv6 || !isMethod(r.Method) || r.Weight < 0 || r.Weight > 65535 {
					t.Fatalf("real %+v", r)
				}
			}
		}
		if n > 1024 {
			t.Fatalf("%d reals", n)
		}
	})
}
