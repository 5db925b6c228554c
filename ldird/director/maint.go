package director

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lvsha/ldird/check"
)

// maintChecker is ldirectord's _check_real_for_maintenance in front of a
// real's check: when a file named after the real exists in maintenancedir
// the real is down ("Server in maintenance") and the check is not run.
// The result's error says so (maintenanceError), so the planner takes the
// real down at once, whatever failurecount says (ldirectord forces it).
type maintChecker struct {
	inner  check.Checker
	dir    string
	port   uint16
	lookup func(ctx context.Context, addr string) ([]string, error)
}

// maintenanceError is the result of a real in maintenance.
type maintenanceError struct{ file string }

func (e *maintenanceError) Error() string { return "Server in maintenance (" + e.file + ")" }

// inMaintenance reports whether a check result is "in maintenance".
func inMaintenance(r check.Result) bool {
	var me *maintenanceError
	return !r.OK && errors.As(r.Err, &me)
}

func (c *maintChecker) Check(ctx context.Context, real check.Target) check.Result {
	if file := c.maintenanceFile(ctx, real); file != "" {
		err := &maintenanceError{file: file}
		return check.Result{OK: false, Err: err, Detail: err.Error()}
	}
	return c.inner.Check(ctx, real)
}

// Forget passes combined checks' per-real state through.
func (c *maintChecker) Forget(t check.Target) {
	if f, ok := c.inner.(interface{ Forget(check.Target) }); ok {
		f.Forget(t)
	}
}

// maintenanceFile returns the name of the maintenance file that applies, or
// "". The names are ldirectord's, in its order: IP:PORT, IP, FQDN:PORT,
// FQDN, SHORT:PORT, SHORT (IPv6 addresses in brackets, as its man page
// says; the bare form is accepted too). The reverse lookup is done only
// when the directory holds a name that is not an address, so an empty
// directory costs one ReadDir per check.
func (c *maintChecker) maintenanceFile(ctx context.Context, real check.Target) string {
	ents, err := os.ReadDir(c.dir)
	if err != nil || len(ents) == 0 {
		return ""
	}
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		names[e.Name()] = true
	}
	port := strconv.Itoa(int(c.port))
	ip := real.IP.String()
	cands := []string{ip + ":" + port, ip}
	if real.IP.Is6() {
		cands = append([]string{"[" + ip + "]:" + port, "[" + ip + "]"}, cands...)
	}
	for _, n := range cands {
		if names[n] {
			return filepath.Join(c.dir, n)
		}
	}
	needDNS := false
	for n := range names {
		if h, _, _ := strings.Cut(n, ":"); net.ParseIP(strings.Trim(h, "[]")) == nil && !strings.Contains(n, "]") {
			needDNS = true
			break
		}
	}
	if !needDNS {
		return ""
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	hosts, err := c.lookup(lctx, ip)
	if err != nil || len(hosts) == 0 {
		return ""
	}
	fqdn := strings.TrimSuffix(hosts[0], ".")
	cands = []string{fqdn + ":" + port, fqdn}
	// ldirectord: /^([a-z][a-z0-9\-]+)\./ on the name.
	if i := strings.IndexByte(fqdn, '.'); i > 1 && fqdn[0] >= 'a' && fqdn[0] <= 'z' {
		short := fqdn[:i]
		if strings.Trim(short, "abcdefghijklmnopqrstuvwxyz0123456789-") == "" {
			cands = append(cands, short+":"+port, short)
		}
	}
	for _, n := range cands {
		if names[n] {
			return filepath.Join(c.dir, n)
		}
	}
	return ""
}
