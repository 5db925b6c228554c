package control

import (
	"os"
	"path/filepath"
)

// RunDir holds ldird's pid files and control sockets: $LDIRD_RUNDIR, else
// /var/run.
func RunDir() string {
	if d := os.Getenv("LDIRD_RUNDIR"); d != "" {
		return d
	}
	return "/var/run"
}

// SocketPath is the control socket of the ldird instance whose
// configuration file is named cfgName (its base name, as ldirectord names
// its pid file: "ldirectord.cf").
func SocketPath(cfgName string) string {
	return filepath.Join(RunDir(), "ldird."+cfgName+".sock")
}

// StateDir holds ldird's state that outlives the process (the
// administrator's overrides): $LDIRD_STATEDIR, else /var/lib/ldird.
func StateDir() string {
	if d := os.Getenv("LDIRD_STATEDIR"); d != "" {
		return d
	}
	return "/var/lib/ldird"
}

// AdminFile is where the instance cfgName keeps the administrator's
// overrides (drain, disable) across restarts.
func AdminFile(cfgName string) string {
	return filepath.Join(StateDir(), "ldird."+cfgName+".admin")
}
