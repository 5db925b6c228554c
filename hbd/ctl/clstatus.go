package ctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"lvsha/hbd/api"
)

// cl_status exit codes (Heartbeat tools/cl_status.c).
const (
	exitOK        = 0
	exitFail      = 1 // "normal" failure: heartbeat down, node dead, ...
	exitParam     = 11
	exitTimeout   = 12
	exitUnknown   = 13
	signonFailure = "hb_api_signon: Can't initiate connection to heartbeat"
)

// helpText lists the sub-commands as Heartbeat's cl_status does (same
// layout; our wording), plus our extension.
const helpText = `Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
	Show the status of a heartbeat client on a node (timeout in ms, default 500).
hblinkstatus <node-name> <link-name>
	Show the status of one heartbeat link of a node.
hbstatus
	Tell whether heartbeat is running on this machine.
	Options:
		-v	verbose: also print version and "listnodes -v" output
listnodes [<option>]
	List the cluster nodes.
	Options:
		-p	list only 'ping' type nodes
		-n	list only 'normal' type nodes
		-v	verbose: also show each node's type and status,
			followed by its "listhblinks -v" output
listhblinks <node-name>
	List the interfaces a node uses as heartbeat links.
	Options:
		-v	verbose: show each link's status too
nodestatus <node-name>
	Show the status of a node.
nodeweight <node-name>
	Show the weight of a node.
nodesite <node-name>
	Show the site of a node.
nodetype <node-name>
	Show the type of a node.
rscstatus
	Show which resources this node holds.
hbparameter -p <parameter-name>
	Show the value of a cluster parameter.
	See the man page for the parameter names.
counters
	Show hbd's internal counters (lvsha extension, not in Heartbeat).
fencestatus
	Show this node's STONITH device and the reset in progress, if any
	(lvsha extension, not in Heartbeat).

Every sub-command accepts -m: print human-readable sentences.
`

type clCmd struct {
	name       string
	optstr     string
	needSignon bool
	run        func(s *clState, args []string) int
}

var clCmds []clCmd

func init() {
	clCmds = []clCmd{
		{"hbstatus", "mv", false, (*clState).hbstatus},
		{"listnodes", "mpnv", true, (*clState).listnodesCmd},
		{"nodestatus", "m", true, nodeStatus.run},
		{"nodeweight", "m", true, nodeWeight.run},
		{"nodesite", "m", true, nodeSite.run},
		{"nodetype", "m", true, nodeTypeQuery.run},
		{"listhblinks", "mv", true, (*clState).listhblinksCmd},
		{"hblinkstatus", "m", true, (*clState).hblinkstatus},
		{"clientstatus", "m", true, (*clState).clientstatus},
		{"rscstatus", "m", true, (*clState).rscstatus},
		{"hbparameter", "mp:", true, (*clState).hbparameter},
		{"test", "", true, (*clState).test},
		{"counters", "", true, (*clState).counters},
		{"fencestatus", "m", true, (*clState).fencestatus},
	}
}

type clState struct {
	ctx       context.Context
	out, errw io.Writer
	human     bool // -m
	client    *api.Client
	signonErr error
	cmd       *clCmd

	mu     sync.Mutex
	closed bool
}

// logf logs an error as cl_log does on stderr:
// "cl_status[PID]: YYYY/MM/DD_HH:MM:SS ERROR: message".
func logf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "cl_status[%d]: %s ERROR: %s\n", pidFunc(), nowFunc().Format("2006/01/02_15:04:05"), fmt.Sprintf(format, a...))
}

func (s *clState) logf(format string, a ...any) { logf(s.errw, format, a...) }

func clStatus(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || len(args) == 1 && args[0] == "-h" {
		fmt.Fprint(stdout, helpText)
		return exitOK
	}
	var cmd *clCmd
	for i := range clCmds {
		if clCmds[i].name == args[0] {
			cmd = &clCmds[i]
			break
		}
	}
	if cmd == nil {
		logf(stderr, "%s: invalid sub-command.", args[0])
		return exitParam
	}
	out, errw := &gate{w: stdout}, &gate{w: stderr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &clState{ctx: ctx, out: out, errw: errw, cmd: cmd}
	done := make(chan int, 1)
	go func() { done <- s.main(args) }()
	timer := time.NewTimer(globalTimeout)
	defer timer.Stop()
	select {
	case rc := <-done:
		s.close()
		return rc
	case <-timer.C:
		out.close()
		errw.close()
		cancel()
		s.close()
		return exitTimeout
	}
}

func (s *clState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.client != nil {
		s.client.Close()
	}
}

func (s *clState) main(args []string) int {
	// The per-request timeout is longer than the global one so that a hung
	// daemon always ends in the global timeout (exit 12), as with alarm(5).
	c, err := api.DialContext(s.ctx, socketPath(), globalTimeout+time.Second)
	s.mu.Lock()
	if s.closed {
		if c != nil {
			c.Close()
		}
		s.mu.Unlock()
		return exitTimeout
	}
	s.client, s.signonErr = c, err
	s.mu.Unlock()
	if err != nil && s.cmd.needSignon {
		s.logf("Cannot signon with heartbeat")
		s.logf("REASON: %s", signonReason(err))
		return exitFail
	}
	return s.cmd.run(s, args)
}

// signonReason is what Heartbeat's errmsg() would say after a failed
// sign-on.
func signonReason(err error) string {
	if api.IsDenied(err) {
		return err.Error()
	}
	return signonFailure
}

// opts runs getopt over the sub-command's arguments.
func (s *clState) opts(args []string) *getopt {
	return newGetopt(args[0], args[1:], s.cmd.optstr, s.errw)
}

// simpleOpts is Heartbeat's general_simple_opt_deal: only -m. It returns
// the operands, or ok=false after an option error.
func (s *clState) simpleOpts(args []string) ([]string, bool) {
	return s.parseOpts(args, "Error: getopt returnedcharacter %c.", nil) // sic
}

// operands parses -m only and returns the operands when there are at
// least n; with fewer it prints tooFew (Heartbeat's wording, which varies)
// on stderr. ok false means exit 11.
func (s *clState) operands(args []string, n int, tooFew string) ([]string, bool) {
	ops, ok := s.simpleOpts(args)
	if !ok {
		return nil, false
	}
	if len(ops) < n {
		fmt.Fprint(s.errw, tooFew)
		return nil, false
	}
	return ops, true
}

// Heartbeat's option loops of listnodes, listhblinks and hbparameter say
// this of an unknown option (sic).
const unknownOptionCode = "Error: getopt returnedcharacter code %c."

// parseOpts runs getopt over the sub-command's arguments and returns the
// operands. -m asks for human output; own takes the sub-command's other
// letters and reports whether c was one (nil: there are none). Any other
// letter ends the parse with ok false, after logging unknownFmt with it:
// Heartbeat's wording differs between sub-commands.
func (s *clState) parseOpts(args []string, unknownFmt string, own func(c byte, arg string) bool) (ops []string, ok bool) {
	g := s.opts(args)
	for {
		c, arg, more := g.next()
		if !more {
			return g.rest(), true
		}
		switch {
		case c == 'm':
			s.human = true
		case own != nil && own(c, arg):
		default:
			s.logf(unknownFmt, c)
			return nil, false
		}
	}
}

func (s *clState) printf(format string, a ...any) { fmt.Fprintf(s.out, format, a...) }

// pacemakerEnabled follows cl_status: a boolean value says it; any other
// value (respawn, manual, ...) means enabled. Unset means "false", the
// directive's default.
func (s *clState) pacemakerEnabled() (string, bool) {
	v, ok, err := s.client.Param("pacemaker")
	if err != nil || !ok {
		return v, false
	}
	switch strings.ToLower(v) {
	case "true", "on", "yes", "y", "1":
		return v, true
	case "false", "off", "no", "n", "0":
		return v, false
	}
	return v, true
}

func (s *clState) hbstatus(args []string) int {
	verbose := false
	g := s.opts(args)
	for {
		c, _, ok := g.next()
		if !ok {
			break
		}
		switch c { // unknown options are ignored, as in Heartbeat
		case 'm':
			s.human = true
		case 'v':
			verbose = true
		}
	}
	if s.signonErr != nil {
		rc := exitFail
		if api.IsDenied(s.signonErr) {
			s.printf("Heartbeat is apparently running on this machine, but refuses my connection\n")
			rc = exitOK
		} else {
			s.printf("Heartbeat is stopped on this machine.\n")
		}
		if verbose {
			s.printf("(%s)\n", signonReason(s.signonErr))
		}
		return rc
	}
	if !verbose {
		s.printf("Heartbeat is running on this machine.\n")
		return exitOK
	}
	hbversion, haveVersion, err := s.client.Param("hbversion")
	haveVersion = haveVersion && err == nil
	pcmk, pcmkOn := s.pacemakerEnabled()
	if s.human {
		if haveVersion {
			s.printf("Heartbeat version %s\n", hbversion)
		} else {
			s.printf("Heartbeat is running on this machine.\n")
		}
		if pcmkOn {
			s.printf("Resources controlled by Pacemaker.\n")
		} else {
			s.printf("Resources controlled by \"haresources\"\n")
		}
	} else {
		if !haveVersion {
			hbversion = "unknown"
		}
		s.printf("version:\t%s\n", hbversion)
		if pcmkOn {
			s.printf("managed by:\tpacemaker\t(%s)\n", pcmk)
		} else {
			s.printf("managed by:\t\"haresources\"\n")
		}
	}
	// Heartbeat then shows the CCM membership, which haresources clusters
	// do not have, and the verbose node list.
	s.listnodes(false, false, true)
	return exitOK
}

func (s *clState) listnodesCmd(args []string) int {
	var verbose, ping, normal bool
	_, ok := s.parseOpts(args, unknownOptionCode, func(c byte, _ string) bool {
		switch c {
		case 'v':
			verbose = true
		case 'p':
			ping = true
		case 'n':
			normal = true
		default:
			return false
		}
		return true
	})
	if !ok {
		return exitParam
	}
	return s.listnodes(normal, ping, verbose)
}

func (s *clState) listnodes(normalOnly, pingOnly, verbose bool) int {
	nodes, err := s.client.Nodes()
	if err != nil {
		s.logf("Cannot start node walk.")
		s.logf("REASON: %v", err)
		return exitUnknown
	}
	if normalOnly && pingOnly {
		normalOnly, pingOnly = false, false
	}
	if s.human {
		s.printf("The nodes are as follow:\n")
	}
	for i := range nodes {
		n := &nodes[i]
		if normalOnly && n.Type != "normal" || pingOnly && n.Type != "ping" {
			continue
		}
		if verbose {
			s.printf("\n%s\t%s\t(nodetype: %s)\n", n.Name, n.Status, nodeType(n))
			s.printLinks(n, true)
		} else {
			s.printf("%s\n", n.Name)
		}
	}
	return exitOK
}

func nodeType(n *api.NodeInfo) string {
	if n.Type == "normal" || n.Type == "ping" {
		return n.Type
	}
	return "unknown"
}

// linkStatus is Heartbeat's if_status: the first link of that name.
func linkStatus(n *api.NodeInfo, name string) (string, bool) {
	for _, l := range n.Links {
		if l.Name == name {
			return l.Status, true
		}
	}
	return "", false
}

func (s *clState) printLinks(n *api.NodeInfo, verbose bool) {
	if s.human {
		s.printf("\tthis node has the following heartbeat links:\n")
	}
	for _, l := range n.Links {
		if verbose {
			st, _ := linkStatus(n, l.Name)
			s.printf("\t%s\t%s\n", l.Name, st)
		} else {
			s.printf("\t%s\n", l.Name)
		}
	}
}

// lookupNode looks a node up by name, case-insensitively as Heartbeat does. On a
// transport error it logs and returns rc=13.
func (s *clState) lookupNode(name string) (*api.NodeInfo, int) {
	nodes, err := s.client.Nodes()
	if err != nil {
		s.logf("Cannot get the node list")
		s.logf("REASON: %v", err)
		return nil, exitUnknown
	}
	for i := range nodes {
		if strings.EqualFold(nodes[i].Name, name) {
			return &nodes[i], exitOK
		}
	}
	return nil, exitParam
}

// nodeQuery is one of the sub-commands that print one attribute of one
// node. They differ only in the attribute and in Heartbeat's wording, whose
// spelling varies from one to the next and is kept.
type nodeQuery struct {
	tooFew  string // no node named
	unknown string // no such node
	human   string // -m: format of the node as given and the value
	value   func(*api.NodeInfo) string
	exit    func(*api.NodeInfo) int // nil: exitOK
}

var (
	nodeStatus = nodeQuery{
		tooFew: "Not enough parameters.\n", unknown: "Error. May be due to incorrect node name\n",
		human: "The cluster node %s is %s\n",
		value: func(n *api.NodeInfo) string { return n.Status },
		exit: func(n *api.NodeInfo) int {
			switch n.Status {
			case "active", "up", "ping":
				return exitOK
			}
			return exitFail
		},
	}
	nodeWeight = nodeQuery{
		tooFew: "Not enough parameters.\n", unknown: "Error. Maybe due to incorrect node name.\n",
		human: "The weight of the cluster node %s is %s\n",
		value: func(n *api.NodeInfo) string { return strconv.Itoa(n.Weight) },
	}
	nodeSite = nodeQuery{
		tooFew: "Not enough parameters.\n", unknown: "Error. May be due to incorrect node name\n",
		human: "The site of the cluster node %s is %s\n",
		value: func(n *api.NodeInfo) string { return n.Site },
	}
	nodeTypeQuery = nodeQuery{
		tooFew: "No enough parameter.\n", unknown: "Error. May be due to incorrect node name\n",
		human: "The node %s's type: %s\n",
		value: nodeType,
	}
)

// run is the sub-command: <node-name> [-m].
func (q nodeQuery) run(s *clState, args []string) int {
	ops, ok := s.operands(args, 1, q.tooFew)
	if !ok {
		return exitParam
	}
	n, rc := s.lookupNode(ops[0])
	if n == nil {
		if rc == exitParam {
			fmt.Fprint(s.errw, q.unknown)
		}
		return rc
	}
	if s.human {
		s.printf(q.human, ops[0], q.value(n))
	} else {
		s.printf("%s\n", q.value(n))
	}
	if q.exit != nil {
		return q.exit(n)
	}
	return exitOK
}

func (s *clState) listhblinksCmd(args []string) int {
	verbose := false
	ops, ok := s.parseOpts(args, unknownOptionCode, func(c byte, _ string) bool {
		verbose = verbose || c == 'v'
		return c == 'v'
	})
	if !ok {
		return exitParam
	}
	if len(ops) < 1 {
		fmt.Fprintf(s.errw, "No enough parameter.\n")
		return exitParam
	}
	n, rc := s.lookupNode(ops[0])
	if n == nil {
		if rc == exitParam {
			// Heartbeat: the interface walk is refused for an unknown node.
			s.logf("Cannot start heartbeat link interface walk.")
			s.logf("REASON: no such node: %s", ops[0])
		}
		return exitUnknown
	}
	s.printLinks(n, verbose)
	return exitOK
}

func (s *clState) hblinkstatus(args []string) int {
	ops, ok := s.operands(args, 2, "No enough parameter.\n")
	if !ok {
		return exitParam
	}
	n, rc := s.lookupNode(ops[0])
	if n == nil && rc != exitParam {
		return rc
	}
	var st string
	found := false
	if n != nil {
		st, found = linkStatus(n, ops[1])
	}
	if !found {
		s.logf("Cannot get heartbeat link status")
		if n == nil {
			s.logf("REASON: no such node: %s", ops[0])
		} else {
			s.logf("REASON: node %s has no heartbeat link %s", ops[0], ops[1])
		}
		return exitUnknown
	}
	if s.human {
		s.printf("The node %s's heartbeat link %s is %s\n", ops[0], ops[1], st)
	} else {
		s.printf("%s\n", st)
	}
	if st == "up" {
		return exitOK
	}
	return exitFail
}

// atoi is C's atoi: optional sign, leading digits, 0 if none.
func atoi(v string) int {
	v = strings.TrimLeft(v, " \t\n\v\f\r")
	end := 0
	if end < len(v) && (v[end] == '-' || v[end] == '+') {
		end++
	}
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(v[:end])
	return n
}

func (s *clState) clientstatus(args []string) int {
	ops, ok := s.operands(args, 2, "No enough parameter.\n")
	if !ok {
		return exitParam
	}
	timeout := 500
	if len(ops) > 2 {
		timeout = atoi(ops[2])
	}
	st, err := s.client.ClientStatusWait(s.ctx, ops[0], ops[1], time.Duration(max(timeout, 1))*time.Millisecond)
	if err != nil {
		s.logf("Cannot get heartbeat client %s's status", ops[1])
		s.logf("REASON: %v", err)
		return exitUnknown
	}
	s.printf("%s\n", st)
	switch st {
	case "online":
		return exitOK
	case "offline":
		return exitFail
	case "join":
		return 2
	case "leave":
		return 3
	}
	return exitUnknown
}

func (s *clState) rscstatus(args []string) int {
	if _, ok := s.simpleOpts(args); !ok {
		return exitParam
	}
	if _, on := s.pacemakerEnabled(); on {
		s.logf("Cannot get cluster resource status of a pacemaker cluster; try crm_mon")
		return exitFail
	}
	st, err := s.client.ResourceState()
	if err != nil {
		s.logf("Cannot get cluster resource status")
		s.logf("REASON: %v", err)
		return exitUnknown
	}
	if s.human {
		s.printf("This node is holding %s resources.\n", st)
	} else {
		s.printf("%s\n", st)
	}
	return exitOK
}

func (s *clState) hbparameter(args []string) int {
	name, haveName := "", false
	if _, ok := s.parseOpts(args, unknownOptionCode, func(c byte, arg string) bool {
		if c == 'p' {
			name, haveName = arg, true
		}
		return c == 'p'
	}); !ok {
		return exitParam
	}
	if !haveName {
		s.logf("parameter name required")
		return exitParam
	}
	v, ok, err := s.client.Param(name)
	if err != nil || !ok {
		s.logf("Cannot get parameter %s's value", name)
		if err != nil {
			s.logf("REASON: %v", err)
		} else {
			s.logf("REASON: parameter %s is not set", name)
		}
		return exitFail
	}
	if s.human {
		s.printf("Heartbeat parameter %s's value: %s\n", name, v)
	} else {
		s.printf("%s\n", v)
	}
	return exitOK
}

// test is Heartbeat's debug dump (its odd spacing and spelling kept).
func (s *clState) test(args []string) int {
	h := s.client.Hello()
	rsc, err := s.client.ResourceState()
	if err != nil {
		rsc = "(null)"
	}
	s.printf("Dead time: %d\n keeplive time: %d\n mynodeid: %s\n rsc: %s\n", h.DeadtimeMS, h.KeepaliveMS, h.Node, rsc)
	return exitOK
}

// counters is our extension: the daemon's counters, sorted by name.
func (s *clState) counters(args []string) int {
	g := s.opts(args)
	for {
		c, _, ok := g.next()
		if !ok {
			break
		}
		if c == '?' {
			return exitParam
		}
	}
	if ops := g.rest(); len(ops) > 0 {
		fmt.Fprintf(s.errw, "counters: unexpected argument %q\n", ops[0])
		return exitParam
	}
	m, err := s.client.Counters()
	if err != nil {
		s.logf("Cannot get counters")
		s.logf("REASON: %v", err)
		return exitUnknown
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s.printf("%s %d\n", k, m[k])
	}
	return exitOK
}
