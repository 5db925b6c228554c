// Package daemon runs one hbd node's heartbeat: it sends on every medium,
// verifies and sequences what arrives and keeps membership with it. It also
// carries out a Heartbeat 3.0.6 peer's protocol duties (retransmissions,
// ACKs, reqnodes) and hands delivered messages and membership events to a
// Handler, which is how the resource manager plugs in.
//
// Backend serves the control socket (package api) from a running Daemon.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lvsha/hbd/config"
	"lvsha/hbd/media"
	"lvsha/hbd/membership"
	"lvsha/hbd/wire"
)

// Options configure a Daemon.
type Options struct {
	Config   *config.Config
	Node     string // local node name, lowercased
	StateDir string // hb_uuid, hb_generation (Heartbeat: /var/lib/heartbeat)
	// Media overrides the media built from ha.cf (tests pass in-memory ones).
	// Their order must match Config.HA.Media (non-ping entries).
	Media   []media.Medium
	Log     *slog.Logger
	Version string
}

// Handler receives delivered cluster messages and membership events; the
// resource manager implements it. Calls come from the daemon's goroutine.
type Handler interface {
	Message(msg *wire.Message)
	Event(ev membership.Event)
}

// Daemon is one running node.
type Daemon struct {
	opt   Options
	ha    *config.HACF
	log   *slog.Logger
	media []media.Medium
	links []string

	mu       sync.Mutex // guards everything below; the loop holds it while working
	keys     *wire.Keyring
	mem      *membership.Membership
	uuid     []byte
	gen      uint64
	seq      uint64
	hist     *history
	peerUUID map[string][]byte
	counters map[string]uint64
	handlers []Handler
	started  time.Time
	ackAt    uint64 // ack a peer's message when seq%10 == ackAt (Heartbeat's random trigger)

	// One bounded receive queue per link, drained in turn: a flood on
	// one link overflows only its own queue (counted), never pushing
	// out another link's heartbeats.
	rx      []chan media.Packet
	rxReady chan struct{} // some queue has packets
	kick    chan struct{}

	loopAt atomic.Int64 // unix nanoseconds of the loop's last pass (watchdog)

	statusExtra func(*wire.Message) // adds lvsha fields to our status (ping reachability)
	load        *loadFile           // /proc/loadavg, for the ld field
}

// New prepares a node: identity, generation, media. It opens sockets but
// sends nothing until Run.
func New(ctx context.Context, opt Options) (*Daemon, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	ha := opt.Config.HA
	d := &Daemon{opt: opt, ha: ha, log: opt.Log, keys: opt.Config.Keys,
		hist: newHistory(historySize), peerUUID: map[string][]byte{}, counters: map[string]uint64{},
		rxReady: make(chan struct{}, 1), kick: make(chan struct{}, 1), ackAt: uint64(rand.IntN(10))}
	d.load = openLoadFile("/proc/loadavg")
	var err error
	if d.uuid, err = loadUUID(opt.StateDir); err != nil {
		return nil, fmt.Errorf("node uuid: %w", err)
	}
	now := time.Now()
	if d.gen, err = nextGeneration(opt.StateDir, ha.HBGenMethod, now); err != nil {
		return nil, fmt.Errorf("generation: %w", err)
	}
	d.media = opt.Media
	if d.media == nil {
		if d.media, err = openMedia(ctx, ha, opt.Log); err != nil {
			return nil, err
		}
	}
	for _, m := range d.media {
		d.links = append(d.links, m.Name())
		d.rx = append(d.rx, make(chan media.Packet, max(rxQueue/len(d.media), rxQueueMin)))
	}
	d.mem = membership.New(membership.Config{
		Self: opt.Node, Nodes: ha.Nodes, Links: d.links,
		Keepalive: ha.Keepalive, Deadtime: ha.Deadtime, Warntime: ha.Warntime, Initdead: ha.Initdead,
		Seed: d.gen,
		// The loop ticks every tickInterval, a tenth of keepalive or less;
		// a whole keepalive without one is a stall (see onTick).
		StallAfter: ha.Keepalive,
	}, now)
	d.started = now
	return d, nil
}

func openMedia(ctx context.Context, ha *config.HACF, log *slog.Logger) ([]media.Medium, error) {
	var out []media.Medium
	fail := func(err error) ([]media.Medium, error) {
		for _, m := range out {
			m.Close()
		}
		return nil, err
	}
	for _, md := range ha.Media {
		var m media.Medium
		var err error
		switch md.Kind {
		case "bcast":
			m, err = media.Bcast(ctx, md.Iface, md.UDPPort, log)
		case "mcast", "mcast6":
			m, err = media.Mcast(ctx, md.Iface, md.Group, md.Port, md.TTL, md.Loop, log)
		case "ucast", "ucast6":
			m, err = media.Ucast(ctx, md.Iface, md.Peer, md.UDPPort, log)
		default:
			if md.IsPing() {
				continue // ping nodes are not heartbeat links
			}
			err = fmt.Errorf("medium %s is not supported", md.Kind)
		}
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", ha.Path, md.Line, err))
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("no heartbeat media")
	}
	return out, nil
}

// AddHandler registers a receiver of messages and events. Call before Run.
func (d *Daemon) AddHandler(h Handler) {
	d.mu.Lock()
	d.handlers = append(d.handlers, h)
	d.mu.Unlock()
}

// SetStatusExtra registers a function that adds fields to each status
// heartbeat (Heartbeat ignores fields it does not know). Call before Run.
func (d *Daemon) SetStatusExtra(f func(*wire.Message)) {
	d.mu.Lock()
	d.statusExtra = f
	d.mu.Unlock()
}

// LoopAge is how long ago the daemon loop last ran (the systemd watchdog
// is fed only while it keeps running).
func (d *Daemon) LoopAge() time.Duration {
	at := d.loopAt.Load()
	if at == 0 {
		return 0
	}
	return time.Since(time.Unix(0, at))
}

// Generation is this run's heartbeat generation.
func (d *Daemon) Generation() uint64 { return d.gen }

// tickInterval is how often timers are checked: fine enough that a node is
// declared dead within a few ms of its deadtime.
func (d *Daemon) tickInterval() time.Duration {
	t := d.ha.Keepalive / 10
	if t > 20*time.Millisecond {
		t = 20 * time.Millisecond
	}
	if t < 5*time.Millisecond {
		t = 5 * time.Millisecond
	}
	return t
}

// Run sends heartbeats and processes traffic until ctx is done.
func (d *Daemon) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	for i, m := range d.media {
		wg.Add(1)
		go func(i int, m media.Medium) {
			defer wg.Done()
			m.Receive(rctx, i, func(p media.Packet) { d.enqueue(i, p) })
		}(i, m)
	}
	d.log.Info("heartbeat started", "node", d.opt.Node, "generation", d.gen,
		"links", strings.Join(d.links, ","), "keepalive", d.ha.Keepalive, "deadtime", d.ha.Deadtime)
	tick := time.NewTicker(d.tickInterval())
	defer tick.Stop()
	// Our heartbeats go out on their own timer, every keepalive from the
	// first, not at the next tick after it: a peer measures the intervals.
	beat := time.NewTimer(0)
	defer beat.Stop()
	nextStatus := time.Now()
	for {
		now := time.Now()
		d.loopAt.Store(now.UnixNano())
		if !now.Before(nextStatus) {
			d.sendStatus()
			nextStatus = nextBeat(nextStatus, now, d.ha.Keepalive)
			beat.Reset(nextStatus.Sub(now))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.rxReady:
			d.drainRx()
		case <-tick.C:
			d.onTick(time.Now())
		case <-beat.C:
		case <-d.kick:
			nextStatus = time.Now()
		}
	}
}

// Receive queues: rxQueue packets in all, split between the links (each
// holds at least rxQueueMin); rxBatch packets are taken per pass of the
// loop, so timers and our own heartbeats keep their turn under a flood.
const (
	rxQueue    = 4096
	rxQueueMin = 512
	rxBatch    = 64
)

// enqueue queues a packet received on link i on that link's queue, or
// counts it dropped when that queue is full.
func (d *Daemon) enqueue(i int, p media.Packet) {
	select {
	case d.rx[i] <- p:
		select {
		case d.rxReady <- struct{}{}:
		default:
		}
	default:
		d.count("rx_dropped_queue_full")
	}
}

// takeRx takes queued packets one link at a time, in turn, up to budget
// (a flooded link gets its share and no more), and reports whether it
// stopped on the budget with packets perhaps left.
func (d *Daemon) takeRx(budget int) bool {
	for budget > 0 {
		got := false
		for _, q := range d.rx {
			select {
			case p := <-q:
				d.receive(p)
				got, budget = true, budget-1
			default:
			}
		}
		if !got {
			return false
		}
	}
	return true
}

// drainRx takes a batch of queued packets; when more may be queued it
// comes back after the loop's other work.
func (d *Daemon) drainRx() {
	if !d.takeRx(rxBatch) {
		return
	}
	select {
	case d.rxReady <- struct{}{}:
	default:
	}
}

// nextBeat is when the heartbeat after the one due at due (and sent at
// now) goes out: on the schedule, unless we are a whole keepalive behind
// it (the process was stopped), where the schedule starts again from now
// rather than sending a burst.
func nextBeat(due, now time.Time, keepalive time.Duration) time.Time {
	next := due.Add(keepalive)
	if !next.After(now) {
		next = now.Add(keepalive)
	}
	return next
}

// onTick judges the timers, after taking in every packet already queued
// on every link: when the loop itself was late (a busy machine, a stopped
// process), a peer's heartbeat waiting in a queue must count before its
// deadtime is judged, or a live node would be declared dead.
func (d *Daemon) onTick(now time.Time) {
	d.takeRx(rxQueue)
	d.tick(now)
}

// Count adds one to a named counter (cl_status counters, metrics); the
// daemon's own counters are rx_*/tx_*, main adds reloads_ok/reloads_failed.
func (d *Daemon) Count(name string) { d.count(name) }

func (d *Daemon) count(name string) {
	d.mu.Lock()
	d.counters[name]++
	d.mu.Unlock()
}

func (d *Daemon) countLocked(name string) { d.counters[name]++ }

// receive verifies, sequences and dispatches one datagram.
func (d *Daemon) receive(p media.Packet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.countLocked("rx_packets")
	msg, err := wire.Decode(p.Data, d.keys)
	if err != nil {
		reason := "bad_packet"
		var de *wire.DecodeError
		if errors.As(err, &de) {
			reason = string(de.Reason)
		}
		d.countLocked("rx_dropped_" + reason)
		if d.ha.LogBadPack {
			d.log.Debug("dropped packet", "link", d.links[p.Link], "from", p.From, "reason", reason, "err", err)
		}
		return
	}
	res := d.mem.Receive(p.At, p.Link, msg)
	switch res.Verdict {
	case membership.Drop:
		d.countLocked("rx_dropped_" + res.Reason)
		d.log.Debug("dropped message", "link", d.links[p.Link], "src", msg.Get(wire.FieldSrc), "t", msg.Type(), "reason", res.Reason)
	case membership.Duplicate:
		d.countLocked("rx_duplicates")
	case membership.Own:
		d.countLocked("rx_own")
	case membership.Accept:
		d.countLocked("rx_accepted")
		src := strings.ToLower(msg.Get(wire.FieldSrc))
		if u, ok := msg.Binary(wire.FieldSrcUUID); ok && len(u) == 16 {
			d.peerUUID[src] = u
		}
	}
	d.handleEvents(res.Events)
	if res.Verdict == membership.Accept {
		d.maybeAck(msg)
		if res.Deliver {
			d.deliver(msg)
		}
	}
}

// maybeAck sends Heartbeat's flow-control ACK for a peer's sequenced message.
func (d *Daemon) maybeAck(msg *wire.Message) {
	if wire.Unsequenced(msg.Type()) {
		return
	}
	seq, err := strconv.ParseUint(msg.Get(wire.FieldSeq), 16, 64)
	if err != nil || seq%10 != d.ackAt {
		return
	}
	ack := wire.New(wire.MsgAck)
	ack.Set(wire.FieldDest, strings.ToLower(msg.Get(wire.FieldSrc)))
	ack.Set(wire.FieldAckSeq, strconv.FormatUint(seq, 16))
	d.sendLocked(ack)
}

func (d *Daemon) deliver(msg *wire.Message) {
	switch msg.Type() {
	case wire.MsgRexmit:
		d.answerRexmit(msg)
		return
	case wire.MsgReqNodes:
		// We advertise protocol=1, so a starting Heartbeat node waits for this.
		rep := wire.New(wire.MsgRepNodes)
		rep.Set(wire.FieldDest, strings.ToLower(msg.Get(wire.FieldSrc)))
		var b strings.Builder
		for _, n := range d.ha.Nodes {
			b.WriteString(n + " ")
		}
		rep.Set(wire.FieldNodeList, b.String())
		rep.Set(wire.FieldDelNodeList, " ")
		d.sendLocked(rep)
		return
	case wire.MsgAck, wire.MsgNakRexmit, wire.MsgStatus:
		// Membership has used them; handlers still see status changes as events.
		if msg.Type() != wire.MsgStatus {
			return
		}
	}
	for _, h := range d.handlers {
		h.Message(msg)
	}
}

func (d *Daemon) handleEvents(evs []membership.Event) {
	for _, ev := range evs {
		switch ev.Kind {
		case membership.NodeStatusChanged:
			d.log.Info(fmt.Sprintf("Status update for node %s: status %s", ev.Node, ev.Status), "node", ev.Node, "status", ev.Status, "old", ev.Old)
		case membership.NodeDead:
			d.log.Warn(fmt.Sprintf("node %s: is dead", ev.Node), "node", ev.Node)
		case membership.NodeRestarted:
			d.log.Info(fmt.Sprintf("node %s restarted (new generation)", ev.Node), "node", ev.Node)
		case membership.NodeReturned:
			d.log.Warn(fmt.Sprintf("Cluster node %s returning after partition.", ev.Node), "node", ev.Node)
		case membership.LinkUp:
			d.log.Info(fmt.Sprintf("Link %s:%s up.", ev.Node, ev.Link), "node", ev.Node, "link", ev.Link)
		case membership.LinkDead:
			d.log.Info(fmt.Sprintf("Link %s:%s dead.", ev.Node, ev.Link), "node", ev.Node, "link", ev.Link)
		case membership.LateHeartbeat:
			if ev.OverDeadtime {
				d.log.Error(fmt.Sprintf("Late heartbeat: Node %s: interval %d ms (> deadtime)", ev.Node, ev.Interval.Milliseconds()), "node", ev.Node)
			} else {
				d.log.Warn(fmt.Sprintf("Late heartbeat: Node %s: interval %d ms", ev.Node, ev.Interval.Milliseconds()), "node", ev.Node)
			}
		case membership.DeadtimeChanged:
			d.log.Info(fmt.Sprintf("node %s advertises deadtime %d ms", ev.Node, ev.Interval.Milliseconds()), "node", ev.Node)
		case membership.Stalled:
			d.countLocked("stalls")
			d.log.Warn(fmt.Sprintf("hbd did not run for %d ms (a stopped process, or a stalled machine): not counted against the peers", ev.Interval.Milliseconds()),
				"gap", ev.Interval)
		case membership.CommUp:
			d.log.Info("Comm_now_up(): updating status to active", "node", ev.Node)
			select {
			case d.kick <- struct{}{}: // advertise active now, not at the next keepalive
			default:
			}
		}
		for _, h := range d.handlers {
			h.Event(ev)
		}
	}
}

func (d *Daemon) tick(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	evs, rx := d.mem.Tick(now)
	d.handleEvents(evs)
	for _, r := range rx {
		req := wire.New(wire.MsgRexmit)
		req.Set(wire.FieldDest, r.Node)
		req.Set(wire.FieldFirstSeq, strconv.FormatUint(r.Seq, 10))
		req.Set(wire.FieldLastSeq, strconv.FormatUint(r.Seq, 10))
		d.countLocked("tx_rexmit_requests")
		d.sendLocked(req)
	}
}

// answerRexmit resends what a peer missed (hb_rexmit.c: at most 50 per
// request, not the same one twice within 240 ms; a nak when it is gone).
func (d *Daemon) answerRexmit(req *wire.Message) {
	first, err1 := strconv.ParseUint(req.Get(wire.FieldFirstSeq), 10, 64)
	last, err2 := strconv.ParseUint(req.Get(wire.FieldLastSeq), 10, 64)
	if err1 != nil || err2 != nil || last < first {
		d.countLocked("rx_dropped_bad_rexmit")
		return
	}
	from := strings.ToLower(req.Get(wire.FieldSrc))
	now := time.Now()
	for s, n := first, 0; s <= last && n < 50; s, n = s+1, n+1 {
		pkt, ok := d.hist.get(s, now)
		switch {
		case ok && pkt == nil: // resent very recently
		case ok:
			d.countLocked("tx_retransmits")
			d.sendRaw(pkt)
		default:
			nak := wire.New(wire.MsgNakRexmit)
			nak.Set(wire.FieldFirstSeq, strconv.FormatUint(s, 16))
			nak.Set(wire.FieldDest, from)
			nak.Set(wire.FieldInfo, "not in history")
			d.sendLocked(nak)
		}
	}
}

// sendStatus sends our heartbeat.
func (d *Daemon) sendStatus() {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := wire.New(wire.MsgStatus)
	msg.Set(wire.FieldStatus, string(d.mem.OwnStatus()))
	msg.Set(wire.FieldDeadtime, strconv.FormatInt(d.ha.Deadtime.Milliseconds(), 16))
	msg.Set(wire.FieldProtocol, "1")
	if d.statusExtra != nil {
		d.statusExtra(msg)
	}
	d.sendLocked(msg)
}

// Send signs and sends a cluster message on every medium (for the resource
// manager and the API).
func (d *Daemon) Send(msg *wire.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sendLocked(msg)
}

// sendLocked adds Heartbeat's control fields in its order (destuuid, src,
// srcuuid, seq, hg, ts, ld, ttl; auth is added by the encoder), encodes,
// signs and sends on every medium.
func (d *Daemon) sendLocked(msg *wire.Message) error {
	ns := wire.Unsequenced(msg.Type())
	if dest, ok := msg.Lookup(wire.FieldDest); ok {
		if u, ok := d.peerUUID[strings.ToLower(dest)]; ok {
			msg.SetBinary(wire.FieldDestUUID, u)
		} else if strings.EqualFold(dest, d.opt.Node) {
			msg.SetBinary(wire.FieldDestUUID, d.uuid)
		}
	}
	msg.Set(wire.FieldSrc, d.opt.Node)
	msg.SetBinary(wire.FieldSrcUUID, d.uuid)
	var seq uint64
	if !ns {
		d.seq++
		seq = d.seq
		msg.Set(wire.FieldSeq, strconv.FormatUint(seq, 16))
	}
	msg.Set(wire.FieldGeneration, strconv.FormatUint(d.gen, 16))
	msg.Set(wire.FieldTime, strconv.FormatInt(time.Now().Unix(), 16))
	if !ns {
		msg.Set(wire.FieldLoad, d.load.read())
	}
	msg.Set(wire.FieldTTL, strconv.Itoa(d.ha.HopFudge+len(d.ha.Nodes)))
	pkt, err := wire.Encode(msg, d.keys)
	if err != nil {
		d.countLocked("tx_encode_errors")
		return fmt.Errorf("encode %s: %w", msg.Type(), err)
	}
	if !ns {
		d.hist.add(seq, pkt)
	}
	return d.sendRaw(pkt)
}

func (d *Daemon) sendRaw(pkt []byte) error {
	var first error
	ok := false
	for _, m := range d.media {
		if err := m.Send(pkt); err != nil {
			d.countLocked("tx_errors")
			if first == nil {
				first = err
			}
			continue
		}
		ok = true
	}
	d.countLocked("tx_packets")
	if ok {
		return nil
	}
	return first
}

// Counters returns a copy of the packet counters plus per-medium figures.
func (d *Daemon) Counters() map[string]uint64 {
	d.mu.Lock()
	out := make(map[string]uint64, len(d.counters))
	for k, v := range d.counters {
		out[k] = v
	}
	d.mu.Unlock()
	for _, m := range d.media {
		s := m.Stats()
		out["link_"+m.Name()+"_sent"] += s.Sent
		out["link_"+m.Name()+"_received"] += s.Received
		out["link_"+m.Name()+"_send_errors"] += s.SendErrors
	}
	return out
}

// Nodes returns membership snapshots.
func (d *Daemon) Nodes() []membership.NodeView {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mem.Nodes()
}

// Close closes the media.
func (d *Daemon) Close() {
	for _, m := range d.media {
		m.Close()
	}
	d.load.close()
}

// ReloadKeys swaps the authkeys (SIGHUP with a changed authkeys file).
func (d *Daemon) ReloadKeys(k *wire.Keyring) {
	d.mu.Lock()
	d.keys = k
	d.mu.Unlock()
}
