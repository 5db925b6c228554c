package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"lvsha/hbd/wire"
)

// Config is everything read from one configuration directory.
type Config struct {
	Dir      string
	HA       *HACF
	Keys     *wire.Keyring
	Groups   []Group
	Warnings []*Error // from all three files
}

// Load reads ha.cf, authkeys and haresources from dir and checks them
// against each other. A missing haresources means no resource groups. On
// failure the error is an Errors holding every problem of every file.
func Load(dir string, opt Options) (*Config, error) {
	var errs Errors
	cfg := &Config{Dir: dir}

	haPath := filepath.Join(dir, "ha.cf")
	if data, err := os.ReadFile(haPath); err != nil {
		errs = append(errs, &Error{File: haPath, Msg: "cannot open config file: " + err.Error(), Err: err})
	} else {
		p := parseHACF(haPath, data, opt)
		cfg.HA = p.h
		errs = append(errs, p.r.Errs...)
	}

	keys, r := readAuthkeys(filepath.Join(dir, "authkeys"))
	cfg.Keys = keys
	errs = append(errs, r.Errs...)

	resPath := filepath.Join(dir, "haresources")
	data, err := os.ReadFile(resPath)
	var rr *report
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		errs = append(errs, &Error{File: resPath, Msg: "cannot read resources file: " + err.Error(), Err: err})
	default:
		rr = newReport(resPath)
		cfg.Groups = parseHaresources(rr, data)
		errs = append(errs, rr.Errs...)
		if cfg.HA != nil {
			known := map[string]bool{}
			for _, n := range cfg.HA.Nodes {
				known[n] = true
			}
			for _, g := range cfg.Groups {
				if !known[g.Node] {
					errs = append(errs, &Error{File: resPath, Line: g.Line,
						Msg: "bad nodename [" + g.Node + "]: not declared with 'node' in " + haPath})
				}
			}
		}
	}

	if cfg.HA != nil {
		cfg.Warnings = append(cfg.Warnings, cfg.HA.Warnings...)
	}
	cfg.Warnings = append(cfg.Warnings, r.Warnings...)
	if rr != nil {
		cfg.Warnings = append(cfg.Warnings, rr.Warnings...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}
