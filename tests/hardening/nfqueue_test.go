package hardening

// A userspace delay line for heartbeats. There is no netem on this kernel and
// nftables' `queue` statement is not built (CONFIG_NFT_QUEUE is not set), but
// the NFQUEUE xtables target is (CONFIG_NETFILTER_XT_TARGET_NFQUEUE, reached
// through iptables): an iptables rule in a node's INPUT chain hands each
// heartbeat the node receives on a link to a netlink socket (nfnetlink_queue)
// opened in that node's network namespace; the reader below keeps the packet
// id, and accepts the packet once its delay has passed. The kernel holds the
// packet meanwhile, so a held packet costs the reader a few words.
//
// Order is preserved: a packet is never released before the one queued
// ahead of it (delay with jitter behaves like a slow FIFO link, not like
// reordering). Memory is bounded by the kernel queue length (delayQueueLen;
// beyond it the kernel drops, as a full router buffer would) and time by
// delayMaxHold. The rules carry --queue-bypass, so a packet passes untouched
// when no reader is bound; Stop (run by t.Cleanup, also on failure) deletes
// the rules, accepts everything still held and closes the socket.
//
// The socket is opened by github.com/mdlayher/netlink with Config.NetNS: the
// library locks an OS thread, enters the node's namespace with setns, creates
// the socket, restores the thread's own namespace (the thread is discarded
// if that fails) and unlocks it. A netlink socket stays bound to the
// namespace it was created in, and nfnetlink_queue instances are per
// namespace, so the reader sees exactly that node's packets.
//
// github.com/florianl/go-nfqueue would have been the natural library, but
// the module proxy does not serve it here; what the delay line needs of the
// protocol is small (bind a queue, metadata-only copy mode, queue length,
// read packet ids, send accept verdicts) and sits on mdlayher/netlink's
// framing, attribute codec and namespace handling.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

// nfnetlink_queue (include/uapi/linux/netfilter/nfnetlink_queue.h); x/sys
// has only the subsystem number.
const (
	nfqnlMsgPacket  = 0 // NFQNL_MSG_PACKET: a queued packet, kernel → us
	nfqnlMsgVerdict = 1 // NFQNL_MSG_VERDICT
	nfqnlMsgConfig  = 2 // NFQNL_MSG_CONFIG

	nfqaPacketHdr  = 1 // NFQA_PACKET_HDR: be32 id, be16 hw_protocol, u8 hook
	nfqaVerdictHdr = 2 // NFQA_VERDICT_HDR: be32 verdict, be32 id

	nfqaCfgCmd      = 1 // NFQA_CFG_CMD: u8 command, u8 pad, be16 pf
	nfqaCfgParams   = 2 // NFQA_CFG_PARAMS: be32 copy_range, u8 copy_mode (packed)
	nfqaCfgQueueLen = 3 // NFQA_CFG_QUEUE_MAXLEN: be32

	nfqnlCfgCmdBind = 1
	nfqnlCopyMeta   = 1 // the packet id and metadata, no payload
	nfAccept        = 1 // NF_ACCEPT
)

const (
	delayQueueLen = 1024            // kernel queue length; more and the kernel drops
	delayMaxHold  = 5 * time.Second // no packet is held longer than this
)

// iptCands are the installed iptables commands, the default first (on
// Debian 12 the nft backend, whose NFQUEUE goes through nft_compat), then
// iptables-legacy; iptCmd is the first that took an NFQUEUE rule.
var (
	iptOnce  sync.Once
	iptMu    sync.Mutex
	iptCands []string
	iptCmd   string
	iptErr   error
)

// requireIptables finds iptables (Debian package iptables). Without it a
// delay test cannot run: under CI that is a failure (a missing install
// step must not pass as a skip), elsewhere a skip, saying so.
func requireIptables(t *testing.T) {
	t.Helper()
	iptOnce.Do(func() {
		for _, name := range []string{"iptables", "iptables-legacy"} {
			for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
				p := filepath.Join(dir, name)
				if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
					iptCands = append(iptCands, p)
					break
				}
			}
		}
		if len(iptCands) == 0 {
			iptErr = errors.New("iptables is not installed (Debian package iptables): the delay tests queue heartbeats to userspace with its NFQUEUE target (no netem here, and nftables' queue statement is not built into this kernel)")
		}
	})
	if iptErr != nil {
		testenv.Skip(t, iptErr.Error())
	}
}

// iptAdd appends rule in n with the iptables that works, trying each
// candidate until one does.
func iptAdd(t *testing.T, n *netns.Node, rule []string) string {
	t.Helper()
	iptMu.Lock()
	defer iptMu.Unlock()
	cands := iptCands
	if iptCmd != "" {
		cands = []string{iptCmd}
	}
	var fails []string
	for _, c := range cands {
		out, errOut, code, err := n.Run(context.Background(), c, append([]string{"-w", "-A"}, rule...)...)
		if err == nil && code == 0 {
			iptCmd = c
			return c
		}
		fails = append(fails, fmt.Sprintf("%s: exit %d %v %s%s", c, code, err, out, errOut))
	}
	t.Fatalf("delay %s: no iptables takes an NFQUEUE rule (needs CONFIG_NETFILTER_XT_TARGET_NFQUEUE): %s", n.Name, strings.Join(fails, "; "))
	return ""
}

type heldPacket struct {
	id               uint32
	arrived, release time.Time
}

// delayStats is what a delay line did.
type delayStats struct {
	Queued, Released int
	MinHeld, MaxHeld time.Duration // from queueing to the verdict
	Errors           []string
}

// delayLine delays the heartbeats one node receives on some links.
type delayLine struct {
	t     testing.TB
	node  *netns.Node
	queue uint16
	conn  *netlink.Conn
	rules [][]string // iptables arguments after -A/-D, as added
	ipt   string     // the iptables command that added them

	mu          sync.Mutex
	delay       time.Duration
	jitter      time.Duration
	holdUntil   time.Time
	lastRelease time.Time
	pending     []heldPacket // FIFO, release times never decreasing
	stats       delayStats
	stopping    bool // release everything at once
	exit        bool // the releaser returns once nothing is held
	rng         *rand.Rand

	wake     chan struct{}
	stopOnce sync.Once
	readDone chan struct{}
	relDone  chan struct{}
}

// delayIn queues every heartbeat (UDP to port 694) that node n receives from
// another address on the given interfaces to NFQUEUE queue number queue,
// and starts the reader, delaying each by delay (Set and HoldFor change
// that later). Stop runs before the node's teardown (t.Cleanup is LIFO).
func delayIn(t *testing.T, n *netns.Node, queue uint16, delay time.Duration, ifaces ...string) *delayLine {
	t.Helper()
	requireIptables(t)
	d := &delayLine{t: t, node: n, queue: queue, wake: make(chan struct{}, 1),
		readDone: make(chan struct{}), relDone: make(chan struct{}),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(queue)))}
	d.stats.MinHeld = -1
	d.delay = delay

	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", n.PID()))
	if err != nil {
		t.Fatalf("delay %s: %v", n.Name, err)
	}
	d.conn, err = netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	f.Close()
	if err != nil {
		t.Fatalf("delay %s: netlink socket in the node's namespace: %v", n.Name, err)
	}
	if err := d.conn.SetReadBuffer(1 << 20); err != nil {
		d.conn.Close()
		t.Fatalf("delay %s: %v", n.Name, err)
	}
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, unix.AF_INET}
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, 0xffff)
	params[4] = nfqnlCopyMeta
	qlen := binary.BigEndian.AppendUint32(nil, delayQueueLen)
	for _, a := range []struct {
		typ uint16
		val []byte
	}{{nfqaCfgCmd, cmd}, {nfqaCfgParams, params}, {nfqaCfgQueueLen, qlen}} {
		if err := d.config(a.typ, a.val); err != nil {
			d.conn.Close()
			t.Fatalf("delay %s: configure queue %d (attribute %d): %v", n.Name, queue, a.typ, err)
		}
	}
	go d.read()
	go d.releaser()
	t.Cleanup(d.Stop)

	for _, ifname := range ifaces {
		own := ownAddr(t, n, ifname)
		r := []string{"INPUT", "-i", ifname, "!", "-s", own, "-p", "udp", "--dport", "694",
			"-j", "NFQUEUE", "--queue-num", fmt.Sprint(queue), "--queue-bypass"}
		d.ipt = iptAdd(t, n, r)
		d.rules = append(d.rules, r)
	}
	return d
}

// ownAddr is n's IPv4 address on ifname: its own broadcasts, looped back to
// it, are not delayed (they did not cross the link).
func ownAddr(t *testing.T, n *netns.Node, ifname string) string {
	t.Helper()
	out := n.MustRun("ip", "-o", "-4", "addr", "show", "dev", ifname)
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "inet" {
			return strings.SplitN(f[i+1], "/", 2)[0]
		}
	}
	t.Fatalf("delay %s: no IPv4 address on %s: %q", n.Name, ifname, out)
	return ""
}

func (d *delayLine) header() []byte {
	h := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}
	binary.BigEndian.PutUint16(h[2:], d.queue)
	return h
}

func (d *delayLine) config(typ uint16, val []byte) error {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(typ, val)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = d.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8 | nfqnlMsgConfig),
			Flags: netlink.Request | netlink.Acknowledge},
		Data: append(d.header(), b...),
	})
	return err
}

func (d *delayLine) verdict(id uint32) error {
	v := make([]byte, 8)
	binary.BigEndian.PutUint32(v, nfAccept)
	binary.BigEndian.PutUint32(v[4:], id)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(nfqaVerdictHdr, v)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = d.conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8 | nfqnlMsgVerdict),
			Flags: netlink.Request},
		Data: append(d.header(), b...),
	})
	return err
}

// Set makes every packet queued from now on wait delay plus a uniformly
// random 0..jitter (never overtaking the one ahead of it).
func (d *delayLine) Set(delay, jitter time.Duration) {
	d.mu.Lock()
	d.delay, d.jitter = delay, jitter
	d.mu.Unlock()
}

// HoldFor holds every packet queued during the next h and releases them
// together, in order, when h has passed: a link that stalls once.
func (d *delayLine) HoldFor(h time.Duration) {
	d.mu.Lock()
	d.holdUntil = time.Now().Add(h)
	d.mu.Unlock()
}

// Stats returns a copy of the counters.
func (d *delayLine) Stats() delayStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Errors = append([]string(nil), s.Errors...)
	return s
}

func (d *delayLine) errorf(format string, args ...any) {
	d.mu.Lock()
	if len(d.stats.Errors) < 20 {
		d.stats.Errors = append(d.stats.Errors, fmt.Sprintf(format, args...))
	}
	d.mu.Unlock()
}

// read takes queued packets from the socket and schedules their release.
func (d *delayLine) read() {
	defer close(d.readDone)
	failures := 0
	for {
		msgs, err := d.conn.Receive()
		now := time.Now()
		if err != nil {
			d.mu.Lock()
			stopping := d.stopping
			d.mu.Unlock()
			if stopping {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				d.errorf("queue %d: netlink receive buffer overrun: queued packets lost until Stop", d.queue)
				continue
			}
			// A failed verdict comes back as an error message; go on,
			// but not for ever on a broken socket.
			d.errorf("queue %d: receive: %v", d.queue, err)
			if failures++; failures > 10 {
				return
			}
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket) || len(m.Data) < 4 {
				continue
			}
			id, ok := packetID(m.Data[4:])
			if !ok {
				d.errorf("queue %d: packet message without a header", d.queue)
				continue
			}
			d.schedule(id, now)
		}
	}
}

func packetID(attrs []byte) (uint32, bool) {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return 0, false
	}
	for ad.Next() {
		if ad.Type() == nfqaPacketHdr {
			if b := ad.Bytes(); len(b) >= 4 {
				return binary.BigEndian.Uint32(b), true
			}
		}
	}
	return 0, false
}

func (d *delayLine) schedule(id uint32, now time.Time) {
	d.mu.Lock()
	rel := now.Add(d.delay)
	if d.jitter > 0 {
		rel = rel.Add(time.Duration(d.rng.Int64N(int64(d.jitter) + 1)))
	}
	if now.Before(d.holdUntil) && rel.Before(d.holdUntil) {
		rel = d.holdUntil
	}
	if rel.Before(d.lastRelease) {
		rel = d.lastRelease // FIFO: never before the packet ahead
	}
	if max := now.Add(delayMaxHold); rel.After(max) {
		rel = max
	}
	if d.stopping {
		rel = now
	}
	d.lastRelease = rel
	d.pending = append(d.pending, heldPacket{id: id, arrived: now, release: rel})
	d.stats.Queued++
	d.mu.Unlock()
	d.kick()
}

// releaser accepts each packet when its time comes; when stopping, it
// accepts everything still held at once.
func (d *delayLine) releaser() {
	defer close(d.relDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		var due []heldPacket
		for len(d.pending) > 0 && (d.stopping || !d.pending[0].release.After(now)) {
			due = append(due, d.pending[0])
			d.pending = d.pending[1:]
		}
		exit := d.exit && len(d.pending) == 0
		var next time.Duration = time.Hour
		if len(d.pending) > 0 {
			next = d.pending[0].release.Sub(now)
		}
		d.mu.Unlock()
		for _, p := range due {
			if err := d.verdict(p.id); err != nil {
				d.errorf("queue %d: verdict for packet %d: %v", d.queue, p.id, err)
				continue
			}
			held := time.Since(p.arrived)
			d.mu.Lock()
			d.stats.Released++
			if d.stats.MinHeld < 0 || held < d.stats.MinHeld {
				d.stats.MinHeld = held
			}
			if held > d.stats.MaxHeld {
				d.stats.MaxHeld = held
			}
			d.mu.Unlock()
		}
		if exit {
			return
		}
		timer.Reset(next)
		select {
		case <-timer.C:
		case <-d.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// Stop deletes the rules, accepts every packet still held (also those the
// kernel queued before the rules went but the reader has not read yet),
// closes the socket and reports the reader's errors as test errors. It is
// idempotent and registered with t.Cleanup.
func (d *delayLine) Stop() {
	d.stopOnce.Do(func() {
		for _, r := range d.rules {
			out, errOut, code, err := d.node.Run(context.Background(), d.ipt, append([]string{"-w", "-D"}, r...)...)
			if err != nil || code != 0 {
				d.t.Logf("delay %s: delete rule %v: exit %d %v %s%s", d.node.Name, r, code, err, out, errOut)
			}
		}
		d.mu.Lock()
		d.stopping = true
		d.mu.Unlock()
		d.kick()
		// Nothing new is queued now; wait until the kernel holds nothing
		// for us (closing the socket would drop what it still holds).
		deadline := time.Now().Add(2 * time.Second)
		for {
			k, err := d.kernelStats()
			if err != nil || k.total == 0 || time.Now().After(deadline) {
				if err == nil && k.total > 0 {
					d.errorf("queue %d: %d packets still queued in the kernel at Stop", d.queue, k.total)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		d.mu.Lock()
		d.exit = true
		d.mu.Unlock()
		d.kick()
		<-d.relDone
		d.conn.Close()
		<-d.readDone
		if s := d.Stats(); len(s.Errors) > 0 {
			d.t.Errorf("delay %s queue %d: %s", d.node.Name, d.queue, strings.Join(s.Errors, "; "))
		}
	})
}

func (d *delayLine) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// kernelQueue is this queue's line of /proc/net/netfilter/nfnetlink_queue
// in the node: packets waiting for a verdict now, dropped because the queue
// was full, dropped because the message to us could not be sent.
type kernelQueue struct{ total, queueDropped, userDropped uint64 }

func (d *delayLine) kernelStats() (kernelQueue, error) {
	out, errOut, code, err := d.node.Run(context.Background(), "cat", "/proc/net/netfilter/nfnetlink_queue")
	if err != nil || code != 0 {
		return kernelQueue{}, fmt.Errorf("read nfnetlink_queue: exit %d %v %s", code, err, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[0] != strconv.Itoa(int(d.queue)) {
			continue
		}
		var k kernelQueue
		k.total, _ = strconv.ParseUint(f[2], 10, 64)
		k.queueDropped, _ = strconv.ParseUint(f[5], 10, 64)
		k.userDropped, _ = strconv.ParseUint(f[6], 10, 64)
		return k, nil
	}
	return kernelQueue{}, fmt.Errorf("queue %d not in nfnetlink_queue: %q", d.queue, out)
}
