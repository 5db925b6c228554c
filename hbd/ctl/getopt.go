package ctl

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// getopt is a small GNU getopt(3): short options only, clusters (-mv),
// option arguments attached or separate (-pNAME, -p NAME), "--" ends the
// options, and operands may be mixed with options (argument permutation)
// unless POSIXLY_CORRECT is set. Diagnostics are printed like glibc's, with
// name as argv[0]: cl_status runs getopt on argv+1, so that is the
// sub-command.
type getopt struct {
	name     string
	args     []string
	optstr   string
	errw     io.Writer
	i        int    // next index in args
	cluster  string // rest of the current option cluster
	operands []string
	posix    bool
	done     bool
}

func newGetopt(name string, args []string, optstr string, errw io.Writer) *getopt {
	return &getopt{name: name, args: args, optstr: optstr, errw: errw, posix: os.Getenv("POSIXLY_CORRECT") != ""}
}

// next returns the next option character and its argument; '?' for an
// unknown option or a missing argument (after printing the diagnostic);
// ok=false at the end of the options.
func (g *getopt) next() (c byte, arg string, ok bool) {
	for g.cluster == "" {
		if g.done || g.i >= len(g.args) {
			g.finish()
			return 0, "", false
		}
		a := g.args[g.i]
		g.i++
		switch {
		case a == "--":
			g.finish()
			return 0, "", false
		case len(a) > 1 && a[0] == '-':
			g.cluster = a[1:]
		default:
			g.operands = append(g.operands, a)
			if g.posix {
				g.finish()
				return 0, "", false
			}
		}
	}
	c, g.cluster = g.cluster[0], g.cluster[1:]
	k := strings.IndexByte(g.optstr, c)
	if c == ':' || k < 0 {
		fmt.Fprintf(g.errw, "%s: invalid option -- '%c'\n", g.name, c)
		return '?', "", true
	}
	if k+1 < len(g.optstr) && g.optstr[k+1] == ':' {
		switch {
		case g.cluster != "":
			arg, g.cluster = g.cluster, ""
		case g.i < len(g.args):
			arg = g.args[g.i]
			g.i++
		default:
			fmt.Fprintf(g.errw, "%s: option requires an argument -- '%c'\n", g.name, c)
			return '?', "", true
		}
	}
	return c, arg, true
}

// finish moves every remaining argument to the operands.
func (g *getopt) finish() {
	if !g.done {
		g.operands = append(g.operands, g.args[min(g.i, len(g.args)):]...)
		g.i = len(g.args)
		g.done = true
	}
}

// rest consumes any options left (without diagnosing them) and returns the
// operands in order.
func (g *getopt) rest() []string {
	if !g.done {
		// Only reached when a caller stopped early: skip the options left.
		g.errw = io.Discard
		for {
			if _, _, ok := g.next(); !ok {
				break
			}
		}
	}
	return g.operands
}
