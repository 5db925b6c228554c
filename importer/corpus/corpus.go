// Package corpus lists the import test corpus: the keepalived.conf and
// lvs.cf cases under importer/testdata/corpus (each a directory with the
// input and an "args" file holding the lvsha-import flags it is imported
// with) and keepalived's own samples as Debian installs them. The golden
// tests, the namespace tests and the IPVS differential in the VM all read
// the same list.
package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"lvsha/importer/kaconf"
)

// DebianSamples is where Debian's keepalived package puts its samples.
const DebianSamples = "/usr/share/doc/keepalived/samples"

// Case is one input of the corpus.
type Case struct {
	Kind  string // "keepalived" or "piranha"
	Name  string // directory name, or "debian-<suffix>" for a sample
	Input string // the keepalived.conf or lvs.cf
	// Args are the lvsha-import flags (paths made relative to the working
	// directory of the caller, like Input).
	Args []string
	// Golden is the directory of the expected output under testdata/golden.
	Golden string
}

// Dir is the directory of the input.
func (c Case) Dir() string { return filepath.Dir(c.Input) }

// List reads the corpus under testdata (importer/testdata) and, when
// samples is not empty, the keepalived samples found there.
func List(testdata, samples string) ([]Case, error) {
	var out []Case
	for _, kind := range []string{"keepalived", "piranha"} {
		root := filepath.Join(testdata, "corpus", kind)
		dirs, err := os.ReadDir(root)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		for _, d := range dirs {
			if !d.IsDir() {
				continue
			}
			dir := filepath.Join(root, d.Name())
			input := filepath.Join(dir, "keepalived.conf")
			if kind == "piranha" {
				input = filepath.Join(dir, "lvs.cf")
			}
			argText, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				return nil, fmt.Errorf("corpus: %w", err)
			}
			args := strings.Fields(string(argText))
			for i, a := range args {
				if a == "--peer-conf" && i+1 < len(args) {
					args[i+1] = filepath.Join(dir, args[i+1])
				}
			}
			out = append(out, Case{Kind: kind, Name: d.Name(), Input: input, Args: args,
				Golden: filepath.Join(testdata, "golden", kind, d.Name())})
		}
	}
	if samples == "" {
		return out, nil
	}
	files, _ := filepath.Glob(filepath.Join(samples, "keepalived.conf.*"))
	sort.Strings(files)
	for _, s := range files {
		name := "debian-" + strings.TrimPrefix(filepath.Base(s), "keepalived.conf.")
		args := []string{"--node", "lb1", "--peer", "lb2"}
		if cfg, err := kaconf.Parse(s, kaconf.Options{}); err == nil && len(cfg.ConfigIDs) == 2 {
			args = nil // the node names come from the @ lines
		}
		out = append(out, Case{Kind: "keepalived", Name: name, Input: s, Args: args,
			Golden: filepath.Join(testdata, "golden", "keepalived", name)})
	}
	return out, nil
}

// HasSamples reports whether keepalived's samples are installed.
func HasSamples() bool {
	files, _ := filepath.Glob(filepath.Join(DebianSamples, "keepalived.conf.*"))
	return len(files) > 0
}
