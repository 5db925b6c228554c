package daemon

import "time"

// historySize is how many sent sequenced messages are kept for
// retransmission (Heartbeat's MAXMSGHIST).
const historySize = 500

// rexmitHoldoff: a message resent less than this long ago is not resent
// again (hb_rexmit.c), so several requesters do not multiply traffic.
const rexmitHoldoff = 240 * time.Millisecond

type histEntry struct {
	seq    uint64
	pkt    []byte
	resent time.Time
}

// history is a ring of the last sent packets by sequence number.
type history struct {
	ring []histEntry
}

func newHistory(n int) *history { return &history{ring: make([]histEntry, n)} }

func (h *history) add(seq uint64, pkt []byte) {
	h.ring[seq%uint64(len(h.ring))] = histEntry{seq: seq, pkt: pkt}
}

// get returns the packet for seq. ok is false when it is no longer kept; pkt
// is nil (with ok true) when it was resent within the hold-off.
func (h *history) get(seq uint64, now time.Time) (pkt []byte, ok bool) {
	e := &h.ring[seq%uint64(len(h.ring))]
	if e.pkt == nil || e.seq != seq {
		return nil, false
	}
	if !e.resent.IsZero() && now.Sub(e.resent) < rexmitHoldoff {
		return nil, true
	}
	e.resent = now
	return e.pkt, true
}
