// Package resources runs the resources of a haresources group, whatever
// their kind: Heartbeat resource.d scripts, LSB init scripts, OCF agents
// (OCF::agent::instance) and the Go-native IPaddr, IPaddr2, SendArp,
// ldirectord and DRRealServer. Each is an Agent (start, stop, status), the
// one interface hbd's resource manager drives.
package resources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"lvsha/resources/netif"
)

// State is what a status/monitor call found.
type State int

const (
	// Stopped: the resource is cleanly not running (not owned).
	Stopped State = iota
	// Running: the resource is active here (owned).
	Running
	// Failed: the resource is in an error state, or its state is unknown.
	Failed
)

func (s State) String() string {
	switch s {
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Agent is one resource as hbd's resource manager drives it.
type Agent interface {
	Start(ctx context.Context) error // idempotent
	Stop(ctx context.Context) error  // idempotent; stopping a stopped resource is nil
	Status(ctx context.Context) (State, error)
	String() string // the haresources token, for logs
}

// Announcer is an Agent that can tell its neighbours again where it runs
// (the native IP agents' gratuitous ARP / unsolicited NA), used when a
// healed partition leaves them pointing at a copy that goes away.
type Announcer interface {
	Announce(ctx context.Context) error
}

// Defaults used when the Resolver fields are zero.
const (
	DefaultHADir     = "/etc/ha.d"
	DefaultInitDir   = "/etc/init.d"
	DefaultOCFRoot   = "/usr/lib/ocf"
	DefaultLdirdPath = "/usr/sbin/ldird"
	DefaultStateDir  = "/run/resource-agents"
	// DefaultTimeout bounds one agent call. Heartbeat itself has no bound;
	// a minute covers slow daemons (ldirectord start, file systems) while
	// still turning a hung script into a visible failure.
	DefaultTimeout = 60 * time.Second
	// DefaultKillGrace is how long a timed-out agent's process group gets
	// between SIGTERM and SIGKILL.
	DefaultKillGrace = 3 * time.Second
)

// Resolver turns haresources resource names into Agents.
type Resolver struct {
	HADir     string        // /etc/ha.d (resource.d/ and conf/ live here)
	InitDir   string        // /etc/init.d
	OCFRoot   string        // /usr/lib/ocf
	Timeout   time.Duration // per call; DefaultTimeout when zero
	Logger    *slog.Logger  // slog.Default() when nil
	Native    bool          // use Go-native IPaddr/IPaddr2/SendArp/ldirectord/DRRealServer in-process
	LdirdPath string        // ldird binary for the native ldirectord agent (DefaultLdirdPath)

	// StateDir holds pseudo-resource files of native agents (SendArp), as
	// HA_RSCTMP does for the shell agents. DefaultStateDir when empty.
	StateDir string
	// KillGrace is the SIGTERM→SIGKILL delay for timed-out calls.
	KillGrace time.Duration
	// Env is added to every script's environment (after os.Environ()).
	Env []string
	// Start starts every agent process (Runner.Start); cmd.Start when nil.
	Start func(*exec.Cmd) error
	// Net is what the native agents change (links, addresses, routes);
	// the kernel through a socket per request when nil. A daemon passes
	// netif.NewKernel's, whose socket stays open.
	Net netif.Net
}

// Dir helpers apply the defaults.
func (r *Resolver) haDir() string   { return orDefault(r.HADir, DefaultHADir) }
func (r *Resolver) initDir() string { return orDefault(r.InitDir, DefaultInitDir) }
func (r *Resolver) ocfRoot() string { return orDefault(r.OCFRoot, DefaultOCFRoot) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

func (r *Resolver) runner() *Runner {
	return &Runner{
		Timeout:   r.Timeout,
		KillGrace: r.KillGrace,
		Logger:    r.logger(),
		Env:       r.Env,
		Start:     r.Start,
	}
}

// NativeOptions returns the options the Resolver gives native agents.
func (r *Resolver) NativeOptions() NativeOptions {
	return NativeOptions{
		Logger:     r.logger(),
		StateDir:   orDefault(r.StateDir, DefaultStateDir),
		LdirdPath:  orDefault(r.LdirdPath, DefaultLdirdPath),
		HADir:      r.haDir(),
		Runner:     r.runner(),
		Background: true, // hbd is long-lived: ARP bursts need not block the takeover
		Net:        r.Net,
	}
}

// ErrNotFound is wrapped by Resolve when no script exists for a name.
var ErrNotFound = errors.New("cannot locate resource script")

// Resolve returns the Agent for a haresources resource, with name and args
// as config.ParseResource gives them (a bare IP is Name "IPaddr" with the
// IP spec as its one argument). The order is Heartbeat's ResourceManager
// scriptpath: HADir/resource.d/NAME, then InitDir/NAME; native agents win
// for IPaddr, IPaddr2, SendArp and ldirectord when Native is set, and
// OCF::agent::instance runs the OCF agent directly with the wrapper's
// semantics.
func (r *Resolver) Resolve(name string, args []string) (Agent, error) {
	token := Token(name, args)
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return nil, fmt.Errorf("resource %q: invalid script name", token)
	}
	if r.Native {
		if a, ok, err := r.resolveNative(token, name, args); ok || err != nil {
			if err != nil {
				return nil, fmt.Errorf("resource %q: %w", token, err)
			}
			return a, nil
		}
	}
	if name == "OCF" {
		a, err := r.resolveOCFWrapper(token, args)
		if err != nil {
			return nil, fmt.Errorf("resource %q: %w", token, err)
		}
		return a, nil
	}
	if p := filepath.Join(r.haDir(), "resource.d", name); isExecutableFile(p) {
		return &ScriptAgent{Path: p, Args: args, Token: token, Runner: r.runner()}, nil
	}
	if p := filepath.Join(r.initDir(), name); isExecutableFile(p) {
		if len(args) > 0 {
			// ResourceManager would pass them, but LSB scripts take only the action.
			r.logger().Warn("init script resource given arguments; LSB scripts take none, ignoring them", "resource", token)
		}
		return &LSBAgent{Path: p, Token: token, Runner: r.runner()}, nil
	}
	return nil, fmt.Errorf("resource %q: %w %s (looked in %s and %s)", token, ErrNotFound, name,
		filepath.Join(r.haDir(), "resource.d"), r.initDir())
}

func (r *Resolver) resolveNative(token, name string, args []string) (Agent, bool, error) {
	opts := r.NativeOptions()
	switch name {
	case "IPaddr", "IPaddr2":
		p, warns, err := IPParamsFromArgs(name, args)
		if err != nil {
			return nil, true, err
		}
		for _, w := range warns {
			opts.Logger.Warn(w, "resource", token)
		}
		a, err := NewIPAgent(name, p, opts)
		if err != nil {
			return nil, true, err
		}
		a.Token = token
		return a, true, nil
	case "SendArp":
		p, err := SendArpParamsFromArgs(args)
		if err != nil {
			return nil, true, err
		}
		a, err := NewSendArp(p, opts)
		if err != nil {
			return nil, true, err
		}
		a.Token = token
		return a, true, nil
	case "ldirectord":
		p := map[string]string{}
		if len(args) > 0 {
			p["configfile"] = args[0]
		}
		a, err := NewLdirectord(p, opts)
		if err != nil {
			return nil, true, err
		}
		a.Token = token
		return a, true, nil
	case "DRRealServer":
		p, err := DRRealServerParamsFromArgs(args)
		if err != nil {
			return nil, true, err
		}
		a, err := NewDRRealServer(p, opts)
		if err != nil {
			return nil, true, err
		}
		a.Token = token
		return a, true, nil
	}
	return nil, false, nil
}

// resolveOCFWrapper handles OCF::agent::instance like resource.d/OCF: the
// variables come from HADir/conf/OCF/<agent>/<instance>, the agent is the
// first OCFRoot/resource.d/*/<agent> (provider "heartbeat" first).
func (r *Resolver) resolveOCFWrapper(token string, args []string) (Agent, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("OCF resources are written OCF::agent::instance, got %d arguments", len(args))
	}
	agent, instance := args[0], args[1]
	for _, s := range args {
		if strings.ContainsRune(s, '/') || s == "." || s == ".." {
			return nil, fmt.Errorf("invalid OCF agent or instance name %q", s)
		}
	}
	path, err := FindOCFAgent(r.ocfRoot(), agent)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(r.haDir(), "conf", "OCF", agent, instance)
	if st, err := os.Stat(conf); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("OCF instance file %s: not a readable regular file", conf)
	}
	return &OCFAgent{
		Path:     path,
		Root:     r.ocfRoot(),
		Type:     agent,
		Instance: instance,
		VarsFile: conf,
		Token:    token,
		Runner:   r.runner(),
	}, nil
}

// FindOCFAgent returns root/resource.d/<provider>/<agent>, preferring the
// heartbeat provider, then the others in name order.
func FindOCFAgent(root, agent string) (string, error) {
	base := filepath.Join(root, "resource.d")
	if p := filepath.Join(base, "heartbeat", agent); isExecutableFile(p) {
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join(base, "*", agent))
	sort.Strings(matches)
	for _, m := range matches {
		if isExecutableFile(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("OCF agent %s: %w (no executable %s)", agent, fs.ErrNotExist, filepath.Join(base, "*", agent))
}

// isExecutableFile is ResourceManager's test: a regular file (symlinks
// followed) with an execute bit.
func isExecutableFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// Token rebuilds the haresources word from a name and its arguments.
func Token(name string, args []string) string {
	if len(args) == 0 {
		return name
	}
	return name + "::" + strings.Join(args, "::")
}
