package director

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
)

// monitorLine is ldirectord's monitorfile line for one check result of
// real r of v, at now, by process pid.
func monitorLine(now time.Time, pid int, v *config.Virtual, r *config.Real, res check.Result) string {
	state := "down"
	if res.OK {
		state = "up"
	}
	msg := res.Detail
	if !res.OK && res.Err != nil {
		msg = res.Err.Error()
	}
	if msg == "" {
		msg = "-"
	}
	return fmt.Sprintf("[%s] [%d] %s [%s] %s\n", now.Format("Mon Jan _2 15:04:05 2006"),
		pid, monitorID(v, r), state, escapeMonitor(msg))
}

// monitorID is ldirectord's real id string with ':' runs as spaces.
func monitorID(v *config.Virtual, r *config.Real) string {
	check := string(v.Check.Type)
	if v.Check.Type == config.CheckNegotiate || v.Check.Type == config.CheckCombined {
		check += " " + v.Check.Service
	}
	f := []string{check, v.Protocol, r.Addr.String(), strconv.Itoa(int(r.Port))}
	if v.Check.VirtualHost != "" {
		f = append(f, v.Check.VirtualHost)
	}
	if v.Check.CheckPort != 0 {
		f = append(f, strconv.Itoa(int(v.Check.CheckPort)))
	}
	f = append(f, strconv.Itoa(r.Weight), r.Method, r.Request, r.Receive)
	// ldirectord joins with ':' and squeezes runs of ':' into one space,
	// so empty fields vanish.
	out := f[:0]
	for _, x := range f {
		if x != "" {
			out = append(out, x)
		}
	}
	return strings.Join(out, " ")
}

func escapeMonitor(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '%', '|', '\r', '\n':
			fmt.Fprintf(&b, "%%%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// monitorBuffer collects monitorfile lines during one driver step and
// appends them to their files at its end, one open per file.
type monitorBuffer struct {
	files []string            // in order of first line
	lines map[string][]string // file -> lines
}

func (b *monitorBuffer) add(file, line string) {
	if b.lines == nil {
		b.lines = map[string][]string{}
	}
	if _, ok := b.lines[file]; !ok {
		b.files = append(b.files, file)
	}
	b.lines[file] = append(b.lines[file], line)
}

// flush appends the collected lines; each file's error is returned by
// report.
func (b *monitorBuffer) flush(report func(file string, err error)) {
	for _, file := range b.files {
		if err := appendLines(file, b.lines[file]); err != nil {
			report(file, err)
		}
	}
	b.files, b.lines = b.files[:0], nil
}

func appendLines(file string, lines []string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(lines, ""))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
