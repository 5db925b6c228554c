package kaconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvsha/internal/testenv"
)

// dump renders a tree one statement per line, indented, with positions.
func dump(nodes []*Node) string {
	var b strings.Builder
	var walk func([]*Node, string)
	walk = func(ns []*Node, ind string) {
		for _, n := range ns {
			b.WriteString(ind + filepath.Base(n.Pos.File) + ":" + itoa(n.Pos.Line) + " " + strings.Join(quoteWords(n.Words()), " "))
			if n.HasBlock {
				b.WriteString(" {\n")
				walk(n.Block, ind+"  ")
				b.WriteString(ind + "}")
			}
			b.WriteString("\n")
		}
	}
	walk(nodes, "")
	return b.String()
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for i > 0 {
		d = append([]byte{byte('0' + i%10)}, d...)
		i /= 10
	}
	return string(d)
}

func quoteWords(w []string) []string {
	out := make([]string, len(w))
	for i, s := range w {
		if s == "" || strings.ContainsAny(s, " \t\n\r") {
			s = "[" + s + "]"
		}
		out[i] = s
	}
	return out
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		id   string
		in   string
		want string
	}{
		{
			name: "comments, nesting, one-line blocks, brace on the next line",
			in: `! header
global_defs {   # trailing comment
   router_id LVS_1 ! bang comment
}
vrrp_instance VI_1
{
    state MASTER
    virtual_ipaddress { 10.0.0.1/24 dev eth0 label eth0:1 }
    track_interface {
        eth1 weight 10
    }
}
`,
			want: `f:2 global_defs {
  f:3 router_id LVS_1
}
f:5 vrrp_instance VI_1 {
  f:7 state MASTER
  f:8 virtual_ipaddress {
    f:8 10.0.0.1/24 dev eth0 label eth0:1
  }
  f:9 track_interface {
    f:10 eth1 weight 10
  }
}
`,
		},
		{
			name: "quotes keep spaces, comment characters and escapes",
			in: `misc_path "/bin/check.sh -a '#x' b"
send 'GET / HTTP/1.0\r\n\r\n' "a\x41\101\tz"
`,
			want: "f:1 misc_path [/bin/check.sh -a '#x' b]\nf:2 send [GET / HTTP/1.0\r\n\r\n] [aAA\tz]\n",
		},
		{
			name: "conditional lines",
			id:   "lb1",
			in: `@lb1 priority 150
@lb2 priority 100
@^lb1 state BACKUP
@^lb2 state MASTER
unicast_peer {
  @^lb1 10.0.0.1
  @^lb2 10.0.0.2
}
`,
			want: "f:1 priority 150\nf:4 state MASTER\nf:5 unicast_peer {\n  f:7 10.0.0.2\n}\n",
		},
		{
			name: "parameters: definition, braces, use before white space, recursion, conditions",
			id:   "main",
			in: `$BASE=10.2.${SUB}
$SUB=0
vip ${BASE}.100/32
$SUB=10
vip ${BASE}.100/32
@main $PRIO=240
@backup $PRIO=200
priority $PRIO
$IF_MAIN=@main
$IF_MAIN weight 7
undefined ${NOPE} $NOPE
glued $SUBx
`,
			want: "f:3 vip 10.2.0.100/32\nf:5 vip 10.2.10.100/32\nf:8 priority 240\nf:10 weight 7\nf:11 undefined ${NOPE} $NOPE\nf:12 glued $SUBx\n",
		},
		{
			name: "multi-line parameter",
			in: `$RS= \
real_server 10.0.0.${N} 80 { \
   weight ${N} \
}
$N=1
$RS
$N=2
$RS
`,
			want: "f:6 real_server 10.0.0.1 80 {\n  f:6 weight 1\n}\nf:8 real_server 10.0.0.2 80 {\n  f:8 weight 2\n}\n",
		},
		{
			name: "sequences and lists",
			in: `~SEQ(N, 1, 3) real 10.0.0.$N
~SEQx(H, 0x90, 0x10, 0xb0) v6 fe80::${H}
~LST({A,B}, {1,2}, {3,4}) pair ${A}-${B}
~SEQ(X, 2) ~LST(Y, a, b) n ${X}${Y}
`,
			want: "f:1 real 10.0.0.1\nf:1 real 10.0.0.2\nf:1 real 10.0.0.3\n" +
				"f:2 v6 fe80::90\nf:2 v6 fe80::a0\nf:2 v6 fe80::b0\n" +
				"f:3 pair 1-2\nf:3 pair 3-4\n" +
				"f:4 n 1a\nf:4 n 1b\nf:4 n 2a\nf:4 n 2b\n",
		},
		{
			name: "predefined parameters",
			id:   "node7",
			in:   "a ${_HASH}${_BANG} ${_INSTANCE}\n",
			want: "f:1 a #! node7\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{"f": c.in})
			cfg, err := Parse(filepath.Join(dir, "f"), Options{ConfigID: c.id})
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(cfg.Nodes); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"main.conf":           "global_defs {\n router_id X\n}\ninclude conf.d/*.conf\ninclude {vs,more}/b.conf\ninclude missing/*.conf\n",
		"conf.d/20-vs.conf":   "virtual_server 10.0.0.1 80 {\n  include ../rs/*.inc\n}\n",
		"conf.d/10-vrrp.conf": "vrrp_instance VI_1 {\n}\n",
		"rs/a.inc":            "real_server 10.0.0.11 80 {\n}\n",
		"vs/b.conf":           "vs_b yes\n",
		"more/b.conf":         "more_b yes\n",
	})
	cfg, err := Parse(filepath.Join(dir, "main.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `main.conf:1 global_defs {
  main.conf:2 router_id X
}
10-vrrp.conf:1 vrrp_instance VI_1 {
}
20-vs.conf:1 virtual_server 10.0.0.1 80 {
  a.inc:1 real_server 10.0.0.11 80 {
  }
}
b.conf:1 vs_b yes
b.conf:1 more_b yes
`
	if got := dump(cfg.Nodes); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if len(cfg.Files) != 6 {
		t.Errorf("files read: %v", cfg.Files)
	}
	if len(cfg.Notes) != 1 || cfg.Notes[0].Pos.Line != 6 || !strings.Contains(cfg.Notes[0].Msg, "matched no file") {
		t.Errorf("notes: %+v", cfg.Notes)
	}
}

func TestIncludeLoop(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.conf": "include a.conf\n"})
	_, err := Parse(filepath.Join(dir, "a.conf"), Options{})
	var es Errors
	if !errors.As(err, &es) || !strings.Contains(es[0].Msg, "nested more than") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigIDs(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"f": "@lb2 a\n@^lb1 b\nc\n"})
	cfg, err := Parse(filepath.Join(dir, "f"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.ConfigIDs, ",") != "lb1,lb2" {
		t.Errorf("ids %v", cfg.ConfigIDs)
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]string{
		"vs {\n  real {\n}\n":      "f:1: block of \"vs\" is not closed",
		"a\n}\n":                   "f:2: \"}\" without a block to close",
		"{\n":                      "f:1: \"{\" without a keyword before it",
		"a \"open\n":               "f:1: unterminated \" quote",
		"x ${_RANDOM 1 5}\n":       "f:1: ${_RANDOM}",
		"$A=${B}\n$B=${A}\nv $A\n": "f:3: parameter substitution nested too deep",
		"~SEQ(N) x\n":              "f:1: ~SEQ needs",
		"include\n":                "f:1: include without a file name",
		"~LST({A,B}, {1}) x $A\n":  "f:1: ~LST:",
		"~SEQ(N, 1, x) real $N\n":  "f:1: ~SEQ: \"x\" is not an integer",
		"~SEQ(N, 1, 3 real $N\n":   "f:1: ~SEQ: no closing",
		"vs {\n  a\n}\n}\nvs2 {\n": "f:4: \"}\" without a block to close",
	}
	for in, want := range cases {
		dir := t.TempDir()
		write(t, dir, map[string]string{"f": in})
		_, err := Parse(filepath.Join(dir, "f"), Options{})
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir+"/", ""), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}

// TestDebianSamples reads every sample keepalived ships, when installed.
func TestDebianSamples(t *testing.T) {
	files, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*")
	if len(files) == 0 {
		testenv.Skip(t, "keepalived's samples are not installed (Debian package keepalived; scripts/deps.sh test installs it)")
	}
	for _, f := range files {
		cfg, err := Parse(f, Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Nodes) == 0 {
			t.Errorf("%s: nothing read", f)
		}
	}
}

// TestExpansionBounded: parameters defined in terms of each other, or
// nested sequences, cannot expand without bound.
func TestExpansionBounded(t *testing.T) {
	var laugh strings.Builder
	laugh.WriteString("$A0=x\n")
	for i := 1; i < 30; i++ {
		laugh.WriteString("$A" + itoa(i) + "=${A" + itoa(i-1) + "}${A" + itoa(i-1) + "}\n")
	}
	laugh.WriteString("v ${A29}\n")
	for name, in := range map[string]string{
		"doubling parameters": laugh.String(),
		"nested sequences":    "~SEQ(X, 60000) ~SEQ(Y, 60000) v $X $Y\n",
	} {
		dir := t.TempDir()
		write(t, dir, map[string]string{"f": in})
		_, err := Parse(filepath.Join(dir, "f"), Options{})
		if err == nil || !strings.Contains(err.Error(), "expands to more than") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
