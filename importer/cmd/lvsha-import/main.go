// Command lvsha-import turns a keepalived or Piranha configuration into
// the files hbd and ldird read (ha.cf, authkeys, haresources,
// ldirectord.cf, and generated helper scripts), and prints a report of
// every construct it mapped, approximated, ignored or could not map, each
// with its file and line.
//
//	lvsha-import keepalived [options] FILE
//	lvsha-import piranha [options] FILE
//	lvsha-import check KIND [options] VIP VPORT RIP RPORT
//
// Exit status: 0 done; 3 something could not be mapped (nothing written
// unless --keep-going); 1 an input, output or validation error; 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"lvsha/importer/emit"
	"lvsha/importer/kacheck"
	"lvsha/importer/kaconf"
	"lvsha/importer/keepalived"
	"lvsha/importer/lvscf"
	"lvsha/importer/piranha"
	"lvsha/importer/plan"
	"lvsha/importer/report"
	"lvsha/importer/verify"
)

// Exit statuses.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitUnmapped = 3
)

const usage = `usage:
  lvsha-import keepalived [-o DIR] [--node NAME --peer NAME] [--peer-conf FILE]
                          [--install-dir DIR] [--ldird-resource] [--force] [--keep-going]
                          [--report FILE] [--helper PATH] KEEPALIVED.CONF
  lvsha-import piranha [-o DIR] --primary NAME --backup NAME [--iface IF]
                       [--install-dir DIR] [--force] [--keep-going] [--report FILE] LVS.CF
  lvsha-import check KIND [options] VIP VPORT RIP RPORT   (run by generated external checks)
  lvsha-import -h | --help

Writes ha.cf, authkeys, haresources, ldirectord.cf and generated scripts
into DIR (default: the current directory), never over existing files
unless --force, and prints what became of every construct of the input.
Exit status: 0 done, 3 something could not be mapped (nothing is written
unless --keep-going), 1 error, 2 usage.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "check":
		return kacheck.Main(ctx, args[1:], stderr)
	case "keepalived", "piranha":
	default:
		fmt.Fprintf(stderr, "lvsha-import: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("lvsha-import "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var o options
	fs.StringVar(&o.out, "o", ".", "output directory")
	fs.StringVar(&o.installDir, "install-dir", "/etc/ha.d", "where the output will be installed (generated scripts are named under it)")
	fs.BoolVar(&o.force, "force", false, "replace existing files")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "write the files even when something could not be mapped")
	fs.StringVar(&o.reportFile, "report", "", "also write the report to this file")
	if args[0] == "keepalived" {
		fs.StringVar(&o.node, "node", "", "hbd node name (uname -n) of the director FILE belongs to")
		fs.StringVar(&o.peer, "peer", "", "hbd node name of the other director")
		fs.StringVar(&o.peerConf, "peer-conf", "", "the other director's keepalived.conf (priorities decide the owners)")
		fs.BoolVar(&o.ldirdResource, "ldird-resource", false, "run ldird as a haresources resource instead of on both nodes")
		fs.StringVar(&o.helper, "helper", "/usr/sbin/lvsha-import", "path of lvsha-import in generated check scripts")
	} else {
		fs.StringVar(&o.node, "primary", "", "hbd node name (uname -n) of the primary director")
		fs.StringVar(&o.peer, "backup", "", "hbd node name of the backup director")
		fs.StringVar(&o.iface, "iface", "", "interface for the heartbeats to primary/backup (default: the first virtual's)")
	}
	if err := fs.Parse(reorder(args[1:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "lvsha-import %s: want one input file, got %d\n%s", args[0], fs.NArg(), usage)
		return exitUsage
	}
	o.input = fs.Arg(0)
	var (
		p   *plan.Plan
		rep *report.Report
		err error
	)
	if args[0] == "keepalived" {
		p, rep, err = importKeepalived(o)
	} else {
		p, rep, err = importPiranha(o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lvsha-import: %v\n", err)
		if errors.Is(err, keepalived.ErrNoNodes) || errors.Is(err, piranha.ErrNoNodes) {
			return exitUsage
		}
		return exitError
	}
	return finish(o, p, rep, stdout, stderr)
}

// newKey makes the authkeys secret when the input has none (tests replace
// it for reproducible output).
var newKey func() string

type options struct {
	out, installDir, reportFile, input  string
	force, keepGoing, ldirdResource     bool
	node, peer, peerConf, helper, iface string
}

// reorder moves the input file after the options, so that
// "lvsha-import keepalived FILE -o DIR" works as well.
func reorder(args []string) []string {
	valued := map[string]bool{"-o": true, "--o": true, "-install-dir": true, "--install-dir": true, "-report": true, "--report": true,
		"-node": true, "--node": true, "-peer": true, "--peer": true, "-peer-conf": true, "--peer-conf": true, "-helper": true, "--helper": true,
		"-primary": true, "--primary": true, "-backup": true, "--backup": true, "-iface": true, "--iface": true}
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if valued[a] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

func shortName(n string) string {
	n, _, _ = strings.Cut(n, ".")
	return n
}

func importKeepalived(o options) (*plan.Plan, *report.Report, error) {
	opt := keepalived.Options{Node: o.node, Peer: o.peer, InstallDir: o.installDir, Helper: o.helper, LdirdResource: o.ldirdResource, Key: newKey}
	// A first read finds the config ids the file's @ lines use.
	probe, err := kaconf.Parse(o.input, kaconf.Options{ConfigID: shortName(o.node)})
	if err != nil {
		return nil, nil, err
	}
	if (o.node == "") != (o.peer == "") {
		return nil, nil, fmt.Errorf("%w: give both --node and --peer", keepalived.ErrNoNodes)
	}
	if o.node == "" && len(probe.ConfigIDs) == 2 {
		opt.Node, opt.Peer = probe.ConfigIDs[0], probe.ConfigIDs[1]
		opt.NamesFrom = "taken from the file's @" + opt.Node + " and @" + opt.Peer + " lines: keepalived's config ids, which are the host names up to the first dot unless keepalived runs with -i"
	} else if o.node != "" {
		opt.NamesFrom = "given with --node and --peer"
	}
	self := probe
	if opt.Node != "" && o.node == "" {
		self, err = kaconf.Parse(o.input, kaconf.Options{ConfigID: shortName(opt.Node)})
		if err != nil {
			return nil, nil, err
		}
	}
	switch {
	case o.peerConf != "":
		opt.PeerView, err = kaconf.Parse(o.peerConf, kaconf.Options{ConfigID: shortName(opt.Peer)})
		if err != nil {
			return nil, nil, err
		}
	case len(self.ConfigIDs) > 0 && opt.Peer != "":
		opt.PeerView, err = kaconf.Parse(o.input, kaconf.Options{ConfigID: shortName(opt.Peer)})
		if err != nil {
			return nil, nil, err
		}
	}
	p, rep, err := keepalived.Import(self, opt)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range self.ConfigIDs {
		if opt.Node != "" && id != shortName(opt.Node) && id != shortName(opt.Peer) {
			rep.Approx(report.Pos{File: rep.Files[0]}, "@"+id+" lines", "read for neither node ("+shortName(opt.Node)+", "+shortName(opt.Peer)+")",
				"check the node names: keepalived compares @ids with -i or the host name up to its first dot")
		}
	}
	return p, rep, nil
}

func importPiranha(o options) (*plan.Plan, *report.Report, error) {
	cfg, err := lvscf.Parse(o.input)
	if err != nil {
		return nil, nil, err
	}
	return piranha.Import(cfg, piranha.Options{Primary: o.node, Backup: o.peer, Iface: o.iface, InstallDir: o.installDir, Key: newKey})
}

func finish(o options, p *plan.Plan, rep *report.Report, stdout, stderr io.Writer) int {
	if err := rep.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "lvsha-import: %v\n", err)
		return exitError
	}
	if o.reportFile != "" {
		f, err := os.Create(o.reportFile)
		if err == nil {
			err = rep.Write(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "lvsha-import: report: %v\n", err)
			return exitError
		}
	}
	unmapped := rep.Count(report.Unmapped)
	if unmapped > 0 && !o.keepGoing {
		fmt.Fprintf(stderr, "lvsha-import: %d construct(s) could not be mapped (NOT MAPPED above); nothing written. Fix them, or give --keep-going to write the files anyway.\n", unmapped)
		return exitUnmapped
	}
	files := emit.Files(p)
	if len(files) == 0 {
		fmt.Fprintln(stderr, "lvsha-import: the input has nothing to carry over (no failover and no virtual server)")
		return exitError
	}
	if err := emit.Write(o.out, files, o.force); err != nil {
		fmt.Fprintf(stderr, "lvsha-import: %v\n", err)
		return exitError
	}
	node := ""
	if p.HA != nil {
		node = p.HA.Nodes[0]
	}
	res, err := verify.Dir(o.out, node)
	if err != nil {
		fmt.Fprintf(stderr, "lvsha-import: the written files do not pass hbd's and ldird's checks (a bug in lvsha-import; please report it): %v\n", err)
		return exitError
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Join(o.out, f.Name))
	}
	fmt.Fprintf(stderr, "lvsha-import: wrote %s\n", strings.Join(names, ", "))
	if res.HA {
		fmt.Fprintf(stderr, "lvsha-import: hbd accepts them: %d nodes, %d resource groups\n", res.Nodes, res.Groups)
	}
	if res.LVS {
		fmt.Fprintf(stderr, "lvsha-import: ldird accepts them: %d virtual services\n", res.Virtuals)
	}
	return exitOK
}
