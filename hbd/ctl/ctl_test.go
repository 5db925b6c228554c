package ctl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/hbd/api"
)

type fake struct {
	mu     sync.Mutex
	nodes  []api.NodeInfo
	params map[string]string
	rsc    string
	calls  []string
	fail   error
	hang   bool
}

func (f *fake) Nodes() []api.NodeInfo {
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang {
		time.Sleep(2 * time.Second)
	}
	return f.nodes
}
func (f *fake) Param(n string) (string, bool) { v, ok := f.params[n]; return v, ok }
func (f *fake) ResourceState() string         { return f.rsc }
func (f *fake) ClientStatus(ctx context.Context, node, client string) (string, error) {
	switch client {
	case "ipfail":
		return "online", nil
	case "gone":
		return "offline", nil
	case "joining":
		return "join", nil
	case "leaving":
		return "leave", nil
	}
	return "", errors.New("no reply from " + node)
}
func (f *fake) Counters() map[string]uint64 {
	return map[string]uint64{"tx_packets": 12, "rx_dropped{reason=bad_auth}": 2, "rx_packets": 10}
}
func (f *fake) rec(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return f.fail
}
func (f *fake) Standby(set string) error  { return f.rec("standby " + set) }
func (f *fake) Takeover(set string) error { return f.rec("takeover " + set) }
func (f *fake) Version() string           { return "3.0.6 (lvsha hbd)" }
func (f *fake) LocalNode() string         { return "alpha" }

func cluster() *fake {
	return &fake{
		nodes: []api.NodeInfo{
			{Name: "alpha", Type: "normal", Status: "active", Weight: 100, Links: []api.LinkInfo{{Name: "eth0", Status: "up"}, {Name: "eth1", Status: "dead"}}},
			{Name: "beta", Type: "normal", Status: "dead", Weight: 200, Site: "dc2", Links: []api.LinkInfo{{Name: "eth0", Status: "dead"}, {Name: "eth1", Status: "dead"}}},
			{Name: "gamma", Type: "normal", Status: "up", Weight: 100, Links: []api.LinkInfo{{Name: "eth0", Status: "dead"}, {Name: "eth0", Status: "up"}}},
			{Name: "10.0.0.254", Type: "ping", Status: "ping", Weight: 100, Links: []api.LinkInfo{{Name: "10.0.0.254", Status: "up"}}},
			{Name: "delta", Type: "normal", Status: "init", Weight: 100},
		},
		params: map[string]string{"keepalive": "2", "deadtime": "30", "initdead": "60000ms", "hbversion": "3.0.6", "pacemaker": "false"},
		rsc:    "local",
	}
}

// serve starts a real control socket for b and points the tools at it.
func serve(t *testing.T, b api.Backend) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hbdctl")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hbd.sock")
	s, err := api.NewServer(path, b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; os.RemoveAll(dir) })
	t.Setenv("HBD_SOCKET", path)
}

// noDaemon points the tools at a path where nothing listens.
func noDaemon(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "none.sock")
	t.Setenv("HBD_SOCKET", p)
	return p
}

func init() {
	nowFunc = func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local) }
	pidFunc = func() int { return 4711 }
}

const logPrefix = "cl_status[4711]: 2024/05/06_07:08:09 ERROR: "

func run(prog string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	rc := Main(prog, args, &out, &errb)
	return out.String(), errb.String(), rc
}

type tcase struct {
	name   string
	args   []string
	stdout string
	rc     int
	stderr string // substring expected on stderr ("" = stderr must be empty)
}

func check(t *testing.T, prog string, tests []tcase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, rc := run(prog, tt.args...)
			if out != tt.stdout {
				t.Errorf("stdout:\n%q\nwant:\n%q", out, tt.stdout)
			}
			if rc != tt.rc {
				t.Errorf("exit %d, want %d (stderr %q)", rc, tt.rc, errs)
			}
			if tt.stderr == "" && errs != "" || !strings.Contains(errs, tt.stderr) {
				t.Errorf("stderr %q, want %q", errs, tt.stderr)
			}
		})
	}
}

const verboseNodes = "\nalpha\tactive\t(nodetype: normal)\n\teth0\tup\n\teth1\tdead\n" +
	"\nbeta\tdead\t(nodetype: normal)\n\teth0\tdead\n\teth1\tdead\n" +
	"\ngamma\tup\t(nodetype: normal)\n\teth0\tdead\n\teth0\tdead\n" + // Heartbeat reports the first eth0's status for both
	"\n10.0.0.254\tping\t(nodetype: ping)\n\t10.0.0.254\tup\n" +
	"\ndelta\tinit\t(nodetype: normal)\n"

func TestClStatus(t *testing.T) {
	serve(t, cluster())
	check(t, "cl_status", []tcase{
		// hbstatus
		{"hbstatus", []string{"hbstatus"}, "Heartbeat is running on this machine.\n", 0, ""},
		{"hbstatus -m", []string{"hbstatus", "-m"}, "Heartbeat is running on this machine.\n", 0, ""},
		{"hbstatus -v", []string{"hbstatus", "-v"}, "version:\t3.0.6\nmanaged by:\t\"haresources\"\n" + verboseNodes, 0, ""},
		{"hbstatus -m -v", []string{"hbstatus", "-m", "-v"}, "Heartbeat version 3.0.6\nResources controlled by \"haresources\"\nThe nodes are as follow:\n" +
			"\nalpha\tactive\t(nodetype: normal)\n\tthis node has the following heartbeat links:\n\teth0\tup\n\teth1\tdead\n" +
			"\nbeta\tdead\t(nodetype: normal)\n\tthis node has the following heartbeat links:\n\teth0\tdead\n\teth1\tdead\n" +
			"\ngamma\tup\t(nodetype: normal)\n\tthis node has the following heartbeat links:\n\teth0\tdead\n\teth0\tdead\n" +
			"\n10.0.0.254\tping\t(nodetype: ping)\n\tthis node has the following heartbeat links:\n\t10.0.0.254\tup\n" +
			"\ndelta\tinit\t(nodetype: normal)\n\tthis node has the following heartbeat links:\n", 0, ""},
		{"hbstatus bad option ignored", []string{"hbstatus", "-x"}, "Heartbeat is running on this machine.\n", 0, "hbstatus: invalid option -- 'x'\n"},

		// listnodes
		{"listnodes", []string{"listnodes"}, "alpha\nbeta\ngamma\n10.0.0.254\ndelta\n", 0, ""},
		{"listnodes -m", []string{"listnodes", "-m"}, "The nodes are as follow:\nalpha\nbeta\ngamma\n10.0.0.254\ndelta\n", 0, ""},
		{"listnodes -p", []string{"listnodes", "-p"}, "10.0.0.254\n", 0, ""},
		{"listnodes -n", []string{"listnodes", "-n"}, "alpha\nbeta\ngamma\ndelta\n", 0, ""},
		{"listnodes -pn is all", []string{"listnodes", "-pn"}, "alpha\nbeta\ngamma\n10.0.0.254\ndelta\n", 0, ""},
		{"listnodes -p -v", []string{"listnodes", "-p", "-v"}, "\n10.0.0.254\tping\t(nodetype: ping)\n\t10.0.0.254\tup\n", 0, ""},
		{"listnodes -v", []string{"listnodes", "-v"}, verboseNodes, 0, ""},
		{"listnodes bad option", []string{"listnodes", "-z"}, "", 11, "listnodes: invalid option -- 'z'\n" + logPrefix + "Error: getopt returnedcharacter code ?.\n"},

		// nodestatus
		{"nodestatus active", []string{"nodestatus", "alpha"}, "active\n", 0, ""},
		{"nodestatus up", []string{"nodestatus", "gamma"}, "up\n", 0, ""},
		{"nodestatus dead", []string{"nodestatus", "beta"}, "dead\n", 1, ""},
		{"nodestatus init", []string{"nodestatus", "delta"}, "init\n", 1, ""},
		{"nodestatus ping", []string{"nodestatus", "10.0.0.254"}, "ping\n", 0, ""},
		{"nodestatus case-insensitive", []string{"nodestatus", "ALPHA"}, "active\n", 0, ""},
		{"nodestatus -m", []string{"nodestatus", "-m", "beta"}, "The cluster node beta is dead\n", 1, ""},
		{"nodestatus -m after operand", []string{"nodestatus", "alpha", "-m"}, "The cluster node alpha is active\n", 0, ""},
		{"nodestatus -- operand", []string{"nodestatus", "--", "alpha"}, "active\n", 0, ""},
		{"nodestatus unknown node", []string{"nodestatus", "omega"}, "", 11, "Error. May be due to incorrect node name\n"},
		{"nodestatus missing node", []string{"nodestatus"}, "", 11, "Not enough parameters.\n"},
		{"nodestatus bad option", []string{"nodestatus", "-q", "alpha"}, "", 11, "nodestatus: invalid option -- 'q'\n" + logPrefix + "Error: getopt returnedcharacter ?.\n"},

		// nodetype / nodeweight / nodesite
		{"nodetype normal", []string{"nodetype", "alpha"}, "normal\n", 0, ""},
		{"nodetype ping", []string{"nodetype", "10.0.0.254"}, "ping\n", 0, ""},
		{"nodetype -m", []string{"nodetype", "-m", "10.0.0.254"}, "The node 10.0.0.254's type: ping\n", 0, ""},
		{"nodetype unknown node", []string{"nodetype", "omega"}, "", 11, "Error. May be due to incorrect node name\n"},
		{"nodetype missing node", []string{"nodetype"}, "", 11, "No enough parameter.\n"},
		{"nodeweight", []string{"nodeweight", "beta"}, "200\n", 0, ""},
		{"nodeweight default", []string{"nodeweight", "alpha"}, "100\n", 0, ""},
		{"nodeweight -m", []string{"nodeweight", "-m", "beta"}, "The weight of the cluster node beta is 200\n", 0, ""},
		{"nodeweight unknown", []string{"nodeweight", "omega"}, "", 11, "Error. Maybe due to incorrect node name.\n"},
		{"nodesite", []string{"nodesite", "beta"}, "dc2\n", 0, ""},
		{"nodesite empty", []string{"nodesite", "alpha"}, "\n", 0, ""},
		{"nodesite -m", []string{"nodesite", "-m", "beta"}, "The site of the cluster node beta is dc2\n", 0, ""},
		{"nodesite unknown", []string{"nodesite", "omega"}, "", 11, "Error. May be due to incorrect node name\n"},

		// listhblinks / hblinkstatus
		{"listhblinks", []string{"listhblinks", "alpha"}, "\teth0\n\teth1\n", 0, ""},
		{"listhblinks -v", []string{"listhblinks", "-v", "alpha"}, "\teth0\tup\n\teth1\tdead\n", 0, ""},
		{"listhblinks -m", []string{"listhblinks", "-m", "beta"}, "\tthis node has the following heartbeat links:\n\teth0\n\teth1\n", 0, ""},
		{"listhblinks -mv ping", []string{"listhblinks", "-mv", "10.0.0.254"}, "\tthis node has the following heartbeat links:\n\t10.0.0.254\tup\n", 0, ""},
		{"listhblinks no links", []string{"listhblinks", "delta"}, "", 0, ""},
		{"listhblinks unknown node", []string{"listhblinks", "omega"}, "", 13, logPrefix + "Cannot start heartbeat link interface walk.\n"},
		{"listhblinks missing node", []string{"listhblinks"}, "", 11, "No enough parameter.\n"},
		{"hblinkstatus up", []string{"hblinkstatus", "alpha", "eth0"}, "up\n", 0, ""},
		{"hblinkstatus dead", []string{"hblinkstatus", "alpha", "eth1"}, "dead\n", 1, ""},
		{"hblinkstatus -m", []string{"hblinkstatus", "-m", "alpha", "eth1"}, "The node alpha's heartbeat link eth1 is dead\n", 1, ""},
		{"hblinkstatus ping", []string{"hblinkstatus", "10.0.0.254", "10.0.0.254"}, "up\n", 0, ""},
		{"hblinkstatus unknown link", []string{"hblinkstatus", "alpha", "eth9"}, "", 13, logPrefix + "Cannot get heartbeat link status\n"},
		{"hblinkstatus unknown node", []string{"hblinkstatus", "omega", "eth0"}, "", 13, logPrefix + "Cannot get heartbeat link status\n"},
		{"hblinkstatus missing link", []string{"hblinkstatus", "alpha"}, "", 11, "No enough parameter.\n"},

		// clientstatus
		{"clientstatus online", []string{"clientstatus", "alpha", "ipfail"}, "online\n", 0, ""},
		{"clientstatus offline", []string{"clientstatus", "alpha", "gone", "100"}, "offline\n", 1, ""},
		{"clientstatus join", []string{"clientstatus", "-m", "alpha", "joining"}, "join\n", 2, ""},
		{"clientstatus leave", []string{"clientstatus", "alpha", "leaving", "junk"}, "leave\n", 3, ""},
		{"clientstatus error", []string{"clientstatus", "beta", "x"}, "", 13, logPrefix + "Cannot get heartbeat client x's status\n" + logPrefix + "REASON: no reply from beta\n"},
		{"clientstatus missing client", []string{"clientstatus", "alpha"}, "", 11, "No enough parameter.\n"},

		// rscstatus
		{"rscstatus", []string{"rscstatus"}, "local\n", 0, ""},
		{"rscstatus -m", []string{"rscstatus", "-m"}, "This node is holding local resources.\n", 0, ""},
		{"rscstatus extra operand ignored", []string{"rscstatus", "x"}, "local\n", 0, ""},

		// hbparameter
		{"hbparameter keepalive", []string{"hbparameter", "-p", "keepalive"}, "2\n", 0, ""},
		{"hbparameter attached", []string{"hbparameter", "-pdeadtime"}, "30\n", 0, ""},
		{"hbparameter initdead", []string{"hbparameter", "-p", "initdead"}, "60000ms\n", 0, ""},
		{"hbparameter hbversion", []string{"hbparameter", "-p", "hbversion"}, "3.0.6\n", 0, ""},
		{"hbparameter -m", []string{"hbparameter", "-m", "-p", "keepalive"}, "Heartbeat parameter keepalive's value: 2\n", 0, ""},
		{"hbparameter crm alias", []string{"hbparameter", "-p", "crm"}, "false\n", 0, ""},
		{"hbparameter unset", []string{"hbparameter", "-p", "udpport"}, "", 1, logPrefix + "Cannot get parameter udpport's value\n"},
		{"hbparameter no name", []string{"hbparameter"}, "", 11, logPrefix + "parameter name required\n"},
		{"hbparameter operand is not a name", []string{"hbparameter", "keepalive"}, "", 11, logPrefix + "parameter name required\n"},
		{"hbparameter -p without value", []string{"hbparameter", "-p"}, "", 11, "hbparameter: option requires an argument -- 'p'\n" + logPrefix + "Error: getopt returnedcharacter code ?.\n"},

		// test, counters
		{"test", []string{"test"}, "Dead time: 30000\n keeplive time: 2000\n mynodeid: alpha\n rsc: local\n", 0, ""},
		{"counters", []string{"counters"}, "rx_dropped{reason=bad_auth} 2\nrx_packets 10\ntx_packets 12\n", 0, ""},
		{"counters bad option", []string{"counters", "-m"}, "", 11, "counters: invalid option -- 'm'\n"},

		// generic
		{"no args", nil, helpText, 0, ""},
		{"-h", []string{"-h"}, helpText, 0, ""},
		{"-h with more", []string{"-h", "x"}, "", 11, logPrefix + "-h: invalid sub-command.\n"},
		{"invalid sub-command", []string{"bogus"}, "", 11, logPrefix + "bogus: invalid sub-command.\n"},
		{"prefix is not a sub-command", []string{"hbstat"}, "", 11, "hbstat: invalid sub-command.\n"},
	})
	if !strings.Contains(helpText, "counters") || !strings.HasPrefix(helpText, "Usage: cl_status <sub-command> [<options>] [<parameters>]\n") {
		t.Error("help text")
	}
}

func TestClStatusPacemaker(t *testing.T) {
	f := cluster()
	f.params["pacemaker"] = "respawn"
	serve(t, f)
	check(t, "cl_status", []tcase{
		{"hbstatus -v", []string{"hbstatus", "-v"}, "version:\t3.0.6\nmanaged by:\tpacemaker\t(respawn)\n" + verboseNodes, 0, ""},
	})
	// -m -v output is long; check its head only.
	out, _, rc := run("cl_status", "hbstatus", "-v", "-m")
	if rc != 0 || !strings.HasPrefix(out, "Heartbeat version 3.0.6\nResources controlled by Pacemaker.\nThe nodes are as follow:\n") {
		t.Errorf("hbstatus -v -m: %d %q", rc, out)
	}
	check(t, "cl_status", []tcase{
		{"rscstatus", []string{"rscstatus"}, "", 1, "Cannot get cluster resource status of a pacemaker cluster; try crm_mon\n"},
	})
}

func TestClStatusStates(t *testing.T) {
	f := cluster()
	f.rsc = "transition"
	delete(f.params, "hbversion")
	delete(f.params, "pacemaker") // unset: its default, false
	serve(t, f)
	check(t, "cl_status", []tcase{
		{"rscstatus transition", []string{"rscstatus"}, "transition\n", 0, ""},
		{"rscstatus -m transition", []string{"rscstatus", "-m"}, "This node is holding transition resources.\n", 0, ""},
		{"hbstatus -v without hbversion", []string{"hbstatus", "-v", "-n"}, "version:\tunknown\nmanaged by:\t\"haresources\"\n" + verboseNodes, 0, "hbstatus: invalid option -- 'n'\n"},
	})
}

func TestNotRunning(t *testing.T) {
	noDaemon(t)
	check(t, "cl_status", []tcase{
		{"hbstatus", []string{"hbstatus"}, "Heartbeat is stopped on this machine.\n", 1, ""},
		{"hbstatus -v", []string{"hbstatus", "-v"}, "Heartbeat is stopped on this machine.\n(hb_api_signon: Can't initiate connection to heartbeat)\n", 1, ""},
		{"listnodes", []string{"listnodes"}, "", 1, logPrefix + "Cannot signon with heartbeat\n" + logPrefix + "REASON: hb_api_signon: Can't initiate connection to heartbeat\n"},
		{"nodestatus", []string{"nodestatus", "alpha"}, "", 1, logPrefix + "Cannot signon with heartbeat\n"},
		// Heartbeat signs on before it looks at the arguments.
		{"nodestatus without node", []string{"nodestatus"}, "", 1, "Cannot signon with heartbeat\n"},
		{"rscstatus", []string{"rscstatus"}, "", 1, "Cannot signon with heartbeat\n"},
		{"hbparameter", []string{"hbparameter", "-p", "keepalive"}, "", 1, "Cannot signon with heartbeat\n"},
		{"counters", []string{"counters"}, "", 1, "Cannot signon with heartbeat\n"},
		{"invalid sub-command", []string{"nope"}, "", 11, "nope: invalid sub-command.\n"},
	})
	// A stale socket file is "not running" too.
	p := os.Getenv("HBD_SOCKET")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	check(t, "cl_status", []tcase{
		{"hbstatus stale socket", []string{"hbstatus"}, "Heartbeat is stopped on this machine.\n", 1, ""},
	})
}

// TestRefused: a daemon that refuses the sign-on (a non-haclient user).
func TestRefused(t *testing.T) {
	dir, _ := os.MkdirTemp("", "hbdctl")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "hbd.sock")
	t.Setenv("HBD_SOCKET", p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					io.WriteString(c, `{"v":1,"id":1,"ok":false,"error":{"code":"denied","msg":"permission denied: uid 1002 is neither root nor in group haclient"}}`+"\n")
				}
			}()
		}
	}()
	check(t, "cl_status", []tcase{
		{"hbstatus", []string{"hbstatus"}, "Heartbeat is apparently running on this machine, but refuses my connection\n", 0, ""},
		{"hbstatus -v", []string{"hbstatus", "-v"}, "Heartbeat is apparently running on this machine, but refuses my connection\n(permission denied: uid 1002 is neither root nor in group haclient)\n", 0, ""},
		{"listnodes", []string{"listnodes"}, "", 1, logPrefix + "Cannot signon with heartbeat\n" + logPrefix + "REASON: permission denied: uid 1002 is neither root nor in group haclient\n"},
	})
	check(t, "hb_standby", []tcase{
		{"standby refused", nil, "", 1, "hb_standby: permission denied: only root may change resource state\n"},
	})
}

func TestTimeout(t *testing.T) {
	old := globalTimeout
	globalTimeout = 300 * time.Millisecond
	defer func() { globalTimeout = old }()
	f := cluster()
	f.hang = true
	serve(t, f)
	t0 := time.Now()
	out, _, rc := run("cl_status", "listnodes")
	if rc != 12 || out != "" {
		t.Errorf("rc=%d out=%q, want 12", rc, out)
	}
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Errorf("took %v", d)
	}
}

func TestResourceTools(t *testing.T) {
	f := cluster()
	serve(t, f)
	usageOut := "usage:\n"
	check(t, "hb_standby", []tcase{
		{"default all", nil, "Going standby [all].\n", 0, ""},
		{"all", []string{"all"}, "Going standby [all].\n", 0, ""},
		{"foreign", []string{"foreign"}, "Going standby [foreign].\n", 0, ""},
		{"local", []string{"local"}, "Going standby [local].\n", 0, ""},
		{"failback is foreign", []string{"failback"}, "Going standby [foreign].\n", 0, ""},
		{"bad value", []string{"everything"}, "hb_standby: wrong resources(everything).\n" + usageOut, 1, "hb_standby [all|foreign|local|failback]\n"},
		{"empty value", []string{""}, "hb_standby: wrong resources().\n" + usageOut, 1, "hb_standby [all|foreign|local|failback]\n"},
		{"two args", []string{"all", "local"}, "hb_standby: too many arguments\n" + usageOut, 1, "hb_standby [all|foreign|local|failback]\n"},
		{"--help", []string{"--help"}, usageOut, 1, "hb_standby [all|foreign|local|failback]\n"},
	})
	check(t, "hb_takeover", []tcase{
		{"default all", nil, "", 0, ""},
		{"foreign", []string{"foreign"}, "", 0, ""},
		{"local", []string{"local"}, "", 0, ""},
		{"failback stays failback", []string{"failback"}, "", 0, ""},
		{"bad value", []string{"mine"}, "hb_takeover: wrong resources(mine).\n" + usageOut, 1, "hb_takeover [all|foreign|local|failback]\n"},
		{"two args", []string{"a", "b", "c"}, "hb_takeover: too many arguments\n" + usageOut, 1, "hb_takeover [all|foreign|local|failback]\n"},
		{"--help", []string{"--help"}, usageOut, 1, "hb_takeover [all|foreign|local|failback]\n"},
	})
	want := "standby all,standby all,standby foreign,standby local,standby foreign," +
		"takeover all,takeover foreign,takeover local,takeover failback"
	if got := strings.Join(f.calls, ","); got != want {
		t.Errorf("backend calls:\n%s\nwant\n%s", got, want)
	}
	f.mu.Lock()
	f.fail = errors.New("resource management is not running on this node")
	f.mu.Unlock()
	check(t, "hb_standby", []tcase{
		{"backend refuses", nil, "", 1, "hb_standby: resource management is not running on this node\n"},
	})
	check(t, "hb_takeover", []tcase{
		{"backend refuses", []string{"local"}, "", 1, "hb_takeover: resource management is not running on this node\n"},
	})
}

func TestResourceToolsNotRunning(t *testing.T) {
	p := noDaemon(t)
	check(t, "hb_standby", []tcase{
		{"not running", nil, "", 1, "hb_standby: heartbeat (hbd) is not running on this machine (no daemon listening on " + p + "); nothing done\n"},
		{"usage errors come first", []string{"x"}, "hb_standby: wrong resources(x).\nusage:\n", 1, "hb_standby [all|foreign|local|failback]\n"},
	})
	check(t, "hb_takeover", []tcase{
		{"not running", []string{"all"}, "", 1, "hb_takeover: heartbeat (hbd) is not running on this machine"},
	})
}

func TestUnknownTool(t *testing.T) {
	if _, errs, rc := run("hbdctl"); rc != 1 || !strings.Contains(errs, "unknown tool") {
		t.Errorf("rc=%d stderr=%q", rc, errs)
	}
}

func TestGetopt(t *testing.T) {
	tests := []struct {
		args   []string
		optstr string
		posix  bool
		opts   string // option chars (with args as c=arg,)
		ops    string
		errs   string
	}{
		{[]string{"-m", "a", "-v", "b"}, "mv", false, "m,v,", "a b", ""},
		{[]string{"-mv", "a"}, "mv", false, "m,v,", "a", ""},
		{[]string{"a", "--", "-m"}, "mv", false, "", "a -m", ""},
		{[]string{"-", "-m"}, "m", false, "m,", "-", ""},
		{[]string{"-pfoo", "-p", "bar", "x"}, "mp:", false, "p=foo,p=bar,", "x", ""},
		{[]string{"-mp"}, "mp:", false, "m,?,", "", "s: option requires an argument -- 'p'\n"},
		{[]string{"-x"}, "m", false, "?,", "", "s: invalid option -- 'x'\n"},
		{[]string{"--long"}, "mv", false, "?,?,?,?,?,", "", "s: invalid option -- '-'\n"},
		{[]string{"a", "-m"}, "m", true, "", "a -m", ""},
	}
	for _, tt := range tests {
		var errb bytes.Buffer
		g := newGetopt("s", tt.args, tt.optstr, &errb)
		g.posix = tt.posix
		var opts strings.Builder
		for {
			c, arg, ok := g.next()
			if !ok {
				break
			}
			opts.WriteByte(c)
			if arg != "" {
				opts.WriteString("=" + arg)
			}
			opts.WriteByte(',')
		}
		if opts.String() != tt.opts || strings.Join(g.rest(), " ") != tt.ops || !strings.HasPrefix(errb.String(), tt.errs) {
			t.Errorf("%v: opts %q ops %q errs %q", tt.args, opts.String(), g.rest(), errb.String())
		}
	}
	if atoi("  42ms") != 42 || atoi("x") != 0 || atoi("-7") != -7 {
		t.Error("atoi")
	}
}

// TestNodeQueries pins nodestatus, nodeweight, nodesite and nodetype byte
// for byte (stdout, the whole of stderr, exit code), each with Heartbeat's
// own wording and spelling of its errors, and the option and operand errors
// of the sub-commands that share their handling.
func TestNodeQueries(t *testing.T) {
	serve(t, cluster())
	const badOpt = "Error: getopt returnedcharacter ?.\n"
	for _, tc := range []struct {
		args           []string
		stdout, stderr string
		rc             int
	}{
		{[]string{"nodestatus", "alpha"}, "active\n", "", 0},
		{[]string{"nodestatus", "delta"}, "init\n", "", 1},
		{[]string{"nodestatus", "-m", "10.0.0.254"}, "The cluster node 10.0.0.254 is ping\n", "", 0},
		{[]string{"nodestatus", "-m", "Gamma"}, "The cluster node Gamma is up\n", "", 0},
		{[]string{"nodestatus"}, "", "Not enough parameters.\n", 11},
		{[]string{"nodestatus", "omega"}, "", "Error. May be due to incorrect node name\n", 11},
		{[]string{"nodestatus", "-x", "alpha"}, "", "nodestatus: invalid option -- 'x'\n" + logPrefix + badOpt, 11},

		{[]string{"nodeweight", "beta"}, "200\n", "", 0},
		{[]string{"nodeweight", "-m", "BETA"}, "The weight of the cluster node BETA is 200\n", "", 0},
		{[]string{"nodeweight"}, "", "Not enough parameters.\n", 11},
		{[]string{"nodeweight", "omega"}, "", "Error. Maybe due to incorrect node name.\n", 11},
		{[]string{"nodeweight", "-x", "beta"}, "", "nodeweight: invalid option -- 'x'\n" + logPrefix + badOpt, 11},

		{[]string{"nodesite", "beta"}, "dc2\n", "", 0},
		{[]string{"nodesite", "-m", "alpha"}, "The site of the cluster node alpha is \n", "", 0},
		{[]string{"nodesite"}, "", "Not enough parameters.\n", 11},
		{[]string{"nodesite", "omega"}, "", "Error. May be due to incorrect node name\n", 11},
		{[]string{"nodesite", "-x", "beta"}, "", "nodesite: invalid option -- 'x'\n" + logPrefix + badOpt, 11},

		{[]string{"nodetype", "alpha"}, "normal\n", "", 0},
		{[]string{"nodetype", "-m", "alpha"}, "The node alpha's type: normal\n", "", 0},
		{[]string{"nodetype"}, "", "No enough parameter.\n", 11},
		{[]string{"nodetype", "omega"}, "", "Error. May be due to incorrect node name\n", 11},
		{[]string{"nodetype", "-x", "alpha"}, "", "nodetype: invalid option -- 'x'\n" + logPrefix + badOpt, 11},

		// The other sub-commands that share the option handling.
		{[]string{"listhblinks", "-x", "alpha"}, "", "listhblinks: invalid option -- 'x'\n" + logPrefix + "Error: getopt returnedcharacter code ?.\n", 11},
		{[]string{"listhblinks", "-mv"}, "", "No enough parameter.\n", 11},
		{[]string{"hblinkstatus", "-x", "alpha", "eth0"}, "", "hblinkstatus: invalid option -- 'x'\n" + logPrefix + badOpt, 11},
		{[]string{"hblinkstatus", "alpha"}, "", "No enough parameter.\n", 11},
		{[]string{"clientstatus", "-x", "alpha", "ipfail"}, "", "clientstatus: invalid option -- 'x'\n" + logPrefix + badOpt, 11},
		{[]string{"clientstatus", "-m"}, "", "No enough parameter.\n", 11},
		{[]string{"hbparameter", "-x", "-p", "keepalive"}, "", "hbparameter: invalid option -- 'x'\n" + logPrefix + "Error: getopt returnedcharacter code ?.\n", 11},
		{[]string{"hbparameter", "-m", "-p", "deadtime"}, "Heartbeat parameter deadtime's value: 30\n", "", 0},
		{[]string{"listnodes", "-x"}, "", "listnodes: invalid option -- 'x'\n" + logPrefix + "Error: getopt returnedcharacter code ?.\n", 11},
		{[]string{"listnodes", "-m", "-p"}, "The nodes are as follow:\n10.0.0.254\n", "", 0},
	} {
		out, errs, rc := run("cl_status", tc.args...)
		if out != tc.stdout || errs != tc.stderr || rc != tc.rc {
			t.Errorf("cl_status %s: stdout %q stderr %q exit %d, want %q %q %d",
				strings.Join(tc.args, " "), out, errs, rc, tc.stdout, tc.stderr, tc.rc)
		}
	}
}
