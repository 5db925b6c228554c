package fence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"lvsha/hbd/config"
)

// checkTimeout bounds each stonith -L / -n call of a check (an external
// plugin is a script run for getconfignames).
const checkTimeout = 30 * time.Second

// Checker checks ha.cf's STONITH lines against the installed plugins, as
// Heartbeat does when it reads them (stonith_new, stonith_set_config): the
// type must exist (`stonith -L`) and the line must give every parameter
// the type names (`stonith -t TYPE -n`), in that order. It remembers the
// list of types, so one configuration costs one -L.
type Checker struct {
	Program string // DefaultProgram when empty
	types   []string
}

// Check implements config.Options.StonithCheck. The error does not repeat
// the line's directive; the parser adds file:line and it.
func (c *Checker) Check(s config.Stonith) error {
	prog := c.Program
	if prog == "" {
		prog = DefaultProgram
	}
	if _, err := os.Stat(prog); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("STONITH type %s: the stonith program %s is not installed (Debian package cluster-glue)", s.Type, prog)
	}
	if c.types == nil {
		out, err := runCheck(prog, "-L")
		if err != nil {
			return fmt.Errorf("cannot list the STONITH types (%s -L): %w", prog, err)
		}
		c.types = strings.Fields(out)
	}
	if !slices.Contains(c.types, s.Type) {
		return fmt.Errorf("STONITH type %q is not installed (`stonith -L` lists %d types; external/NAME is a script in /usr/lib/stonith/plugins/external/)", s.Type, len(c.types))
	}
	out, err := runCheck(prog, "-t", s.Type, "-n")
	if err != nil {
		return fmt.Errorf("STONITH type %s: cannot read its parameter names (stonith -t %s -n): %w", s.Type, s.Type, err)
	}
	names := strings.Fields(out)
	params := s.Params
	if s.IsFile() {
		if params, err = paramLine(s.Params); err != nil {
			return fmt.Errorf("STONITH type %s: %w", s.Type, err)
		}
	}
	// The plugin library gives each name one word, in order, and the last
	// name the rest of the line (stonith1_compat_string_to_NVpair), so the
	// line needs at least as many words as there are names.
	if got := len(strings.Fields(params)); got < len(names) {
		where := "the line gives"
		if s.IsFile() {
			where = "the first line of " + s.Params + " gives"
		}
		return fmt.Errorf("STONITH type %s needs %d parameters, in this order: %s; %s %d (missing: %s)",
			s.Type, len(names), strings.Join(names, " "), where, got, strings.Join(names[got:], " "))
	}
	return nil
}

// paramLine reads a parameter file as the plugin library does
// (stonith_set_config_file): its first line that is not empty and does not
// start with #.
func paramLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the parameter file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return l, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("cannot read the parameter file: %w", err)
	}
	return "", fmt.Errorf("the parameter file %s has no parameter line (every line is empty or a # comment)", path)
}

func runCheck(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if s := strings.TrimSpace(errOut.String()); s != "" {
			return "", fmt.Errorf("%w: %s", err, lastWords(s))
		}
		return "", err
	}
	return out.String(), nil
}
