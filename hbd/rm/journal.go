package rm

import (
	"slices"
	"sync"
	"time"
)

// MaxTransitions bounds the journal of group moves.
const MaxTransitions = 100

// Transition is one group move the manager carried out: groups acquired or
// released, why, how long it took and which failed.
type Transition struct {
	At      time.Time // when it began
	Acquire bool      // started (true) or stopped (false)
	Groups  []string  // group keys, in the order they were moved
	Why     string    // the protocol's reason ("mach_down", "hb_standby", ...)
	Took    time.Duration
	Failed  []string // groups whose start or stop failed
}

// journal keeps the last MaxTransitions moves.
type journal struct {
	mu   sync.Mutex
	list []Transition
}

func (j *journal) add(t Transition) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.list = append(j.list, t)
	if len(j.list) > MaxTransitions {
		j.list = slices.Clone(j.list[len(j.list)-MaxTransitions:])
	}
}

func (j *journal) all() []Transition {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.list)
}

// Transitions returns the group moves of this run, oldest first (the last
// MaxTransitions).
func (mg *Manager) Transitions() []Transition { return mg.journal.all() }

// Holdings is who holds what, as this node's protocol state says.
type Holdings struct {
	Self      string
	Groups    []Group // haresources order
	Holds     Set     // what this node holds (relative to itself)
	Peer      Set     // what the peer last said it holds (relative to the peer)
	PeerKnown bool    // Peer is current (false while unknown or being asked)
	Busy      bool    // groups are being started or stopped
	State     State   // Heartbeat's resourcestate
}

// Holder is the node that holds group key: this node, the peer (as it
// last said), or "" for nobody. peer names the other node.
func (h Holdings) Holder(key, peer string) string {
	for _, g := range h.Groups {
		if g.Key != key {
			continue
		}
		own := Foreign
		if g.Node == h.Self {
			own = Local
		}
		if h.Holds&own != 0 {
			return h.Self
		}
		// Relative to the peer, a group of ours is foreign and its own
		// local.
		if h.PeerKnown && peer != "" && h.Peer.Swap()&own != 0 {
			return peer
		}
		return ""
	}
	return ""
}

// holdings is the machine's state for readers.
func (m *Machine) holdings() *Holdings {
	return &Holdings{Self: m.cfg.Self, Groups: m.cfg.Groups, Holds: m.iHold, Peer: m.other, PeerKnown: m.otherOK,
		Busy: len(m.jobs) > 0, State: m.state}
}

// Holdings returns who holds what, as of the manager's last step.
func (mg *Manager) Holdings() Holdings {
	if h := mg.holdings.Load(); h != nil {
		return *h
	}
	return Holdings{Self: mg.opt.Machine.Self, Groups: mg.opt.Machine.Groups}
}

// publish makes the machine's state visible to readers (rscstatus, status).
func (mg *Manager) publish() {
	mg.hold.Store(mg.machine.Holding())
	mg.holdings.Store(mg.machine.holdings())
	st := mg.machine.FenceState()
	mg.fence.Store(&st)
}
