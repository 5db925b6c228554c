// Package verify reads an import's output with hbd's and ldird's own
// configuration code, the code `hbd -t` and `ldird -t` run, so that an
// import never leaves files the daemons would refuse.
package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	hbdconfig "lvsha/hbd/config"
	ldconfig "lvsha/ldird/config"
	"lvsha/ldird/director"
)

// Result says what was checked.
type Result struct {
	HA       bool // ha.cf, authkeys and haresources were read
	LVS      bool // ldirectord.cf was read
	Nodes    int
	Groups   int
	Virtuals int
}

// Dir checks the files an import wrote into dir. node is the hbd node name
// the check runs as (hbd refuses an ha.cf that does not name it); the
// interfaces of the media are not looked up, since the files are usually
// made on another machine.
func Dir(dir, node string) (Result, error) {
	var res Result
	var errs []error
	if _, err := os.Stat(filepath.Join(dir, "ha.cf")); err == nil {
		res.HA = true
		cfg, err := hbdconfig.Load(dir, hbdconfig.Options{NodeName: node})
		if err != nil {
			errs = append(errs, fmt.Errorf("hbd would refuse %s: %w", dir, err))
		} else {
			res.Nodes, res.Groups = len(cfg.HA.Nodes), len(cfg.Groups)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	p := filepath.Join(dir, "ldirectord.cf")
	if data, err := os.ReadFile(p); err == nil {
		res.LVS = true
		cfg, err := ldconfig.ParseBytes(p, data, ldconfig.Options{})
		if err == nil {
			err = director.Validate(cfg)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ldird would refuse %s: %w", p, err))
		} else {
			res.Virtuals = len(cfg.Virtuals)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}
