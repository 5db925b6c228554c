package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultName is the configuration ldirectord reads when none is given.
const DefaultName = "ldirectord.cf"

// Locate finds a configuration file the way ldirectord does:
// /etc/ha.d/NAME, then /etc/ha.d/conf/NAME, then NAME as given.
func Locate(name string) (string, error) {
	return LocateIn(name, "/etc/ha.d", "/etc/ha.d/conf")
}

// LocateIn is Locate with other directories in place of /etc/ha.d and
// /etc/ha.d/conf (for tests and non-standard installs). Like ldirectord it
// tries DIR/NAME first even when NAME is a path.
func LocateIn(name string, dirs ...string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
		return name, nil
	}
	return "", fmt.Errorf("config file %s not found: %w", name, fs.ErrNotExist)
}
