// Command vmexec runs a test binary inside the IPVS test VM, for
// `go test -exec`:
//
//	CGO_ENABLED=0 go test -tags vm -exec 'go run lvsha/tests/vm/vmexec' ./ldird/dataplane/ipvs
//
// It boots the VM that package vm prepares (the packages must be installed:
// scripts/deps.sh test), runs the binary with its arguments in /share,
// copies its output to stdout and exits with its exit code. The binary
// runs in /share, not in the package's source directory. It also builds
// ldird (static) and names it in $LVSHA_LDIRD, for TestLdirdIPVS, and
// carries the host's strict mode (LVSHA_STRICT=1) into the guest.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"lvsha/tests/vm"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vmexec TEST-BINARY [ARGS...]")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1], os.Args[2:]))
}

func run(bin string, args []string) int {
	logf := func(f string, a ...any) { log.Printf(f, a...) }
	kit, err := vm.Prepare(logf)
	if err != nil {
		log.Print(err)
		return 1
	}
	share, err := os.MkdirTemp("", "vmexec-")
	if err != nil {
		log.Print(err)
		return 1
	}
	defer os.RemoveAll(share)
	b, err := os.ReadFile(bin)
	if err != nil {
		log.Print(err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(share, "test.bin"), b, 0o755); err != nil {
		log.Print(err)
		return 1
	}
	// ldird runs from the guest's tmpfs: the share has no page cache.
	if err := vm.BuildProgram("lvsha/ldird", filepath.Join(share, "ldird")); err != nil {
		log.Print(err)
		return 1
	}
	script := vm.GuestEnv() + "cp /share/ldird /tmp/ldird && cd /share && LVSHA_LDIRD=/tmp/ldird ./test.bin"
	for _, a := range args {
		script += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	if err := os.WriteFile(filepath.Join(share, "run.sh"), []byte(script+"\n"), 0o755); err != nil {
		log.Print(err)
		return 1
	}
	res, err := kit.Boot(context.Background(), share)
	os.Stdout.WriteString(res.Output)
	if err != nil {
		log.Print(err)
		return 1
	}
	return res.ExitCode
}
