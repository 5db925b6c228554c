package cfgerr

import (
	"errors"
	"io/fs"
	"testing"
)

func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		e    *Error
		want string
	}{
		{&Error{File: "ha.cf", Line: 12, Msg: "bad"}, "ha.cf:12: bad"},
		{&Error{File: "/etc/ha.d/ldirectord.cf", Msg: "empty"}, "/etc/ha.d/ldirectord.cf: empty"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

func TestReport(t *testing.T) {
	r := &Report{File: "x.cf"}
	if err := r.Err(); err != nil {
		t.Fatalf("empty report: %v (a typed nil would fail here too)", err)
	}
	r.Errorf(3, "no %s", "value")
	r.Wrapf(1, fs.ErrPermission, "cannot open")
	r.Warnf(2, "odd")
	err := r.Err()
	if err == nil || err.Error() != "x.cf:3: no value\nx.cf:1: cannot open" {
		t.Fatalf("errors %q", err)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Error("the cause is not in the chain")
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[1].Line != 1 {
		t.Errorf("errors.As Errors: %v", es)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 {
		t.Errorf("errors.As *Error: %v", e)
	}
	if len(r.Warnings) != 1 || r.Warnings[0].Error() != "x.cf:2: odd" {
		t.Errorf("warnings %v", r.Warnings)
	}
}

func TestReportMax(t *testing.T) {
	r := &Report{File: "bin", Max: 3}
	for i := 1; i <= 10; i++ {
		r.Errorf(i, "e%d", i)
		r.Warnf(i, "w%d", i)
	}
	want := "bin:1: e1\nbin:2: e2\nbin:3: e3\nbin: too many errors; giving up"
	if got := r.Err().Error(); got != want {
		t.Errorf("capped errors:\n%s\nwant:\n%s", got, want)
	}
	if len(r.Warnings) != 3 {
		t.Errorf("%d warnings kept, want 3", len(r.Warnings))
	}
	u := &Report{File: "ha.cf"}
	for i := 0; i < 1000; i++ {
		u.Errorf(i, "e")
	}
	if len(u.Errs) != 1000 {
		t.Errorf("unbounded report kept %d", len(u.Errs))
	}
}
