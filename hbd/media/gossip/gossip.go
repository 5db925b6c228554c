// Package gossip is a heartbeat medium over a hashicorp/memberlist cluster,
// for nodes that bcast/mcast cannot reach (routed networks) and clusters of
// more than two nodes. memberlist only tells it whom to send to: each
// heartbeat goes straight to each member, and hbd's membership, not
// memberlist, decides that a node is dead.
//
// Every member learns every other member's address through memberlist's
// gossip, and Send hands the (already signed) heartbeat datagram straight to
// each of them: a UDP packet per member for small datagrams, a TCP stream for
// those too big for memberlist's UDP buffer. Nothing is relayed, so a
// heartbeat still proves that the sender reached us.
//
// memberlist's own failure detection does not decide node death: hbd's
// membership does, from the heartbeats, per link, as for every other
// medium. memberlist only decides whom we send to (members it has declared
// dead get no more heartbeats from us, so hbd sees that link die on its own
// deadtime), and its view is exported by Members for cl_status and metrics.
//
// Delivery is at most once per Send and peer on the UDP path (no retries;
// loss is what the daemon's deadtime and retransmission requests are for)
// and once on the TCP path unless the connection fails. Large datagrams go
// out asynchronously and may overtake or trail small ones; the daemon orders
// and dedupes by seq.
package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"lvsha/hbd/media"
)

// DefaultName is the link name cl_status shows for a gossip medium.
const DefaultName = "gossip"

// envelopeVersion starts every message we hand to memberlist:
// [version][kind][name length][sender's node name][payload]. memberlist does
// not tell a delegate who sent a user message, so we carry the sender's name
// (Packet.From); the version byte lets a later format coexist with this one.
const envelopeVersion = 1

// Envelope kinds.
const (
	kindDatagram = 0 // a heartbeat datagram for Receive
	// kindLeaving says "I am closing": memberlist's leave looks the same as a
	// failure to other nodes' event delegates, so we say it ourselves to
	// show "left" rather than "dead".
	kindLeaving = 1
)

// labelPrefix is memberlist's packet label: it keeps other memberlist
// clusters (Consul, Serf, another lvsha cluster) out even without
// encryption. The ha.cf cluster name is appended.
const labelPrefix = "lvsha-hb"

// Options configure a gossip medium. Zero durations take defaults derived
// from Keepalive and the LAN/WAN profile.
type Options struct {
	Name string // link name; DefaultName if empty
	Node string // this node's hbd name (also its memberlist name); required

	// Bind is ADDR:PORT to listen on (UDP and TCP). Port 0 picks a free
	// port (tests). Advertise, if set, is the ADDR:PORT peers should use
	// (NAT, or Bind on 0.0.0.0 with several addresses).
	Bind, Advertise string
	// Seeds are HOST[:PORT] of members to join; the port defaults to
	// Bind's. They are retried in the background until reached, and
	// re-joined whenever one is no longer a live member (partition healed,
	// peer restarted). Listing every node on every node is fine: our own
	// address is skipped.
	Seeds []string
	// Cluster separates lvsha clusters sharing a network and key (ha.cf
	// `cluster`); members must agree on it.
	Cluster string

	// Secret is the active authkeys secret; memberlist's AES-GCM key is
	// derived from it (DeriveKey). OtherSecrets are accepted inbound too.
	// Empty: no encryption (heartbeats are still signed by wire, so forged
	// ones are dropped by the daemon, but anyone may join the member list).
	Secret       []byte
	OtherSecrets [][]byte

	// WAN selects memberlist's WAN profile (slower probes, longer
	// timeouts) instead of the LAN one.
	WAN bool
	// Keepalive is hbd's keepalive: probes run about as often as
	// heartbeats, within 200ms..1s (LAN) or 1s..5s (WAN).
	Keepalive time.Duration

	ProbeInterval  time.Duration // memberlist failure probes
	ProbeTimeout   time.Duration // ack wait before indirect probes; < ProbeInterval
	GossipInterval time.Duration // membership gossip (not heartbeats)
	SuspicionMult  int           // suspect for SuspicionMult*log(N+1)*ProbeInterval
	TCPTimeout     time.Duration // joins and large datagrams
	PushPullEvery  time.Duration // full state sync with a random member
	RejoinInterval time.Duration // seed join retries
	LeaveTimeout   time.Duration // Close waits this long for the leave broadcast
	// UDPBufferSize is the largest UDP packet memberlist sends (the MTU-safe
	// 1400 by default); datagrams that do not fit with our overhead go by TCP.
	UDPBufferSize int
	// QueueLen bounds datagrams received but not yet taken by Receive.
	QueueLen int

	// Transport, if set, carries memberlist's packets and streams instead
	// of its UDP and TCP sockets on Bind (tests use memberlist's
	// MockNetwork). Bind must then be the transport's address.
	Transport memberlist.NodeAwareTransport

	Log *slog.Logger
}

// Addr is the sender of a gossip datagram (Packet.From).
type Addr struct {
	Node string // hbd node name
	Addr string // IP:port memberlist knows it by; "" if not (yet) known
}

// Network implements net.Addr.
func (a Addr) Network() string { return "gossip" }

func (a Addr) String() string {
	if a.Addr == "" {
		return a.Node
	}
	return a.Node + "@" + a.Addr
}

// Member is memberlist's view of one node.
type Member struct {
	Name  string
	Addr  string // IP:port
	State string // alive, suspect, dead, left
	Self  bool
	// RTT is the round trip of the last direct probe this node answered
	// (0: none yet, or Self).
	RTT time.Duration
}

// peer is what we track of a node beyond memberlist's Members, which lists
// live nodes only and never fills Node.State.
type peer struct {
	addr    string
	gone    string // "", "dead" or "left"
	suspect bool   // memberlist suspects it (its log says so) and no ack since
	leaving bool   // it said it is leaving
	rtt     time.Duration
}

// Gossip is a media.Medium over memberlist.
type Gossip struct {
	name, node string
	log        *slog.Logger
	ml         *memberlist.Memberlist
	keyring    *memberlist.Keyring // nil: unencrypted
	seeds      []string
	rejoin     time.Duration
	leave      time.Duration
	udpMax     int // largest envelope sent by UDP

	rx        chan media.Packet
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // rejoin loop and reliable senders

	// mu guards peers and senders. Never call into memberlist while
	// holding it: memberlist calls our event delegate under its own lock.
	mu      sync.Mutex
	peers   map[string]*peer
	senders map[string]chan reliableMsg

	sent, sendErr, recv, readErr atomic.Uint64
}

var _ media.Medium = (*Gossip)(nil)

type reliableMsg struct {
	node memberlist.Node
	data []byte
}

// reliableQueue bounds large datagrams waiting for one peer: a peer whose
// TCP port hangs costs at most this many, then sends are refused.
const reliableQueue = 16

// envelope overhead memberlist adds to a user message on UDP: message type,
// CRC header, label header, AES-GCM (version, nonce, tag).
func udpOverhead(label string, encrypted bool) int {
	n := 1 + 5
	if label != "" {
		n += 2 + len(label)
	}
	if encrypted {
		n += 1 + 12 + 16
	}
	return n
}

// New creates the memberlist node (listening at once) and starts joining the
// seeds in the background; it does not wait for a peer.
func New(opt Options) (*Gossip, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Name == "" {
		opt.Name = DefaultName
	}
	if opt.Node == "" {
		return nil, errors.New("gossip: node name is required")
	}
	if len(opt.Node) > 255 {
		return nil, fmt.Errorf("gossip: node name %q longer than 255 bytes", opt.Node)
	}
	cfg, err := memberlistConfig(&opt)
	if err != nil {
		return nil, err
	}
	seeds, err := normalizeSeeds(opt.Seeds, cfg.BindPort)
	if err != nil {
		return nil, err
	}
	g := &Gossip{
		name: opt.Name, node: opt.Node, log: opt.Log, seeds: seeds,
		rejoin: opt.RejoinInterval, leave: opt.LeaveTimeout,
		udpMax: cfg.UDPBufferSize - udpOverhead(cfg.Label, cfg.Keyring != nil),
		rx:     make(chan media.Packet, opt.QueueLen), closed: make(chan struct{}),
		peers: map[string]*peer{}, senders: map[string]chan reliableMsg{},
	}
	g.keyring = cfg.Keyring
	cfg.Delegate = delegate{g}
	cfg.Events = events{g}
	cfg.Ping = pings{g}
	cfg.Logger = newStdLogger(opt.Log, opt.Name, g.memberlistSays)
	if g.ml, err = memberlist.Create(cfg); err != nil {
		return nil, fmt.Errorf("%s: start memberlist on %s: %w", opt.Name, opt.Bind, err)
	}
	g.log.Info("gossip medium listening", "link", g.name, "node", g.node, "addr", g.Addr(),
		"seeds", strings.Join(seeds, ","), "encrypted", cfg.Keyring != nil, "wan", opt.WAN,
		"probe_interval", cfg.ProbeInterval)
	g.wg.Add(1)
	go g.rejoinLoop()
	return g, nil
}

// memberlistConfig validates opt, fills its defaults and builds memberlist's
// configuration.
func memberlistConfig(opt *Options) (*memberlist.Config, error) {
	cfg := memberlist.DefaultLANConfig()
	lo, hi, probe := 200*time.Millisecond, time.Second, 500*time.Millisecond
	rejoin, tcp := time.Second, 2*time.Second
	if opt.WAN {
		cfg = memberlist.DefaultWANConfig()
		lo, hi, probe = time.Second, 5*time.Second, 2*time.Second
		rejoin, tcp = 5*time.Second, 10*time.Second
	}
	if opt.Keepalive > 0 {
		probe = min(max(opt.Keepalive, lo), hi)
	}
	setDur(&opt.ProbeInterval, probe)
	timeout := opt.ProbeInterval / 2
	if opt.WAN {
		timeout = opt.ProbeInterval * 3 / 5
	}
	setDur(&opt.ProbeTimeout, timeout)
	if opt.ProbeTimeout >= opt.ProbeInterval {
		return nil, fmt.Errorf("gossip: probe timeout %v must be shorter than probe interval %v", opt.ProbeTimeout, opt.ProbeInterval)
	}
	setDur(&opt.GossipInterval, cfg.GossipInterval/2)
	setDur(&opt.TCPTimeout, tcp)
	setDur(&opt.PushPullEvery, cfg.PushPullInterval/2)
	setDur(&opt.RejoinInterval, rejoin)
	setDur(&opt.LeaveTimeout, time.Second)
	if opt.SuspicionMult <= 0 {
		opt.SuspicionMult = cfg.SuspicionMult
	}
	if opt.UDPBufferSize <= 0 {
		opt.UDPBufferSize = cfg.UDPBufferSize
	}
	if opt.UDPBufferSize > 65000 {
		return nil, fmt.Errorf("gossip: UDP buffer size %d exceeds the UDP limit", opt.UDPBufferSize)
	}
	if opt.QueueLen <= 0 {
		opt.QueueLen = 1024
	}

	host, port, err := splitHostPort(opt.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip: bind address: %w", err)
	}
	cfg.Name = opt.Node
	cfg.BindAddr, cfg.BindPort = host, port
	if opt.Transport != nil {
		cfg.Transport = opt.Transport
	}
	cfg.AdvertisePort = port
	if opt.Advertise != "" {
		ahost, aport, err := splitHostPort(opt.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip: advertise address: %w", err)
		}
		cfg.AdvertiseAddr, cfg.AdvertisePort = ahost, aport
	}
	cfg.Label = labelPrefix
	if opt.Cluster != "" {
		cfg.Label += "/" + opt.Cluster
	}
	if len(cfg.Label) > memberlist.LabelMaxSize {
		return nil, fmt.Errorf("gossip: cluster name %q too long", opt.Cluster)
	}
	if len(opt.Secret) == 0 && len(opt.OtherSecrets) > 0 {
		return nil, errors.New("gossip: other secrets given without an active one")
	}
	if len(opt.Secret) > 0 {
		primary, err := DeriveKey(opt.Secret)
		if err != nil {
			return nil, err
		}
		var others [][]byte
		for _, s := range opt.OtherSecrets {
			k, err := DeriveKey(s)
			if err != nil {
				return nil, err
			}
			others = append(others, k)
		}
		if cfg.Keyring, err = memberlist.NewKeyring(others, primary); err != nil {
			return nil, fmt.Errorf("gossip: keyring: %w", err)
		}
		// Refuse plaintext in both directions: a stranger must not be able
		// to join, nor read who is in the cluster.
		cfg.GossipVerifyIncoming, cfg.GossipVerifyOutgoing = true, true
	}
	cfg.ProbeInterval, cfg.ProbeTimeout = opt.ProbeInterval, opt.ProbeTimeout
	cfg.GossipInterval, cfg.SuspicionMult = opt.GossipInterval, opt.SuspicionMult
	cfg.TCPTimeout, cfg.PushPullInterval = opt.TCPTimeout, opt.PushPullEvery
	cfg.UDPBufferSize = opt.UDPBufferSize
	// Heartbeats are a few hundred bytes: LZW costs CPU and rarely shrinks them.
	cfg.EnableCompression = false
	// A node restarted on another address may take its name back once the
	// old incarnation is dead, instead of being refused as a conflict.
	cfg.DeadNodeReclaimTime = 5 * opt.ProbeInterval
	return cfg, nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// splitHostPort parses ADDR:PORT (IPv6 in brackets); a bare address gets
// port 0.
func splitHostPort(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("empty address")
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
			return ip.String(), 0, nil
		}
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port %q", s, ps)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// normalizeSeeds gives every seed a port (the bind port by default).
func normalizeSeeds(seeds []string, port int) ([]string, error) {
	out := make([]string, 0, len(seeds))
	for _, s := range seeds {
		if _, _, err := net.SplitHostPort(s); err == nil {
			out = append(out, s)
			continue
		}
		if port == 0 {
			return nil, fmt.Errorf("gossip: seed %q has no port and the bind port is dynamic", s)
		}
		out = append(out, net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(port)))
	}
	return out, nil
}

// Rekey installs new authkeys secrets (SIGHUP after authkeys changed): the
// key derived from secret encrypts from now on, those from others are still
// accepted, any other key is dropped. A medium started without encryption
// cannot start encrypting (peers would drop everything until restarted
// too): that is an error, and so is an empty secret.
func (g *Gossip) Rekey(secret []byte, others [][]byte) error {
	if g.keyring == nil {
		return fmt.Errorf("%s: rekey: started without encryption; restart to enable it", g.name)
	}
	primary, err := DeriveKey(secret)
	if err != nil {
		return fmt.Errorf("%s: rekey: %w", g.name, err)
	}
	keep := [][]byte{primary}
	for _, s := range others {
		k, err := DeriveKey(s)
		if err != nil {
			return fmt.Errorf("%s: rekey: %w", g.name, err)
		}
		keep = append(keep, k)
	}
	for _, k := range keep {
		if err := g.keyring.AddKey(k); err != nil {
			return fmt.Errorf("%s: rekey: %w", g.name, err)
		}
	}
	if err := g.keyring.UseKey(primary); err != nil {
		return fmt.Errorf("%s: rekey: %w", g.name, err)
	}
	for _, k := range g.keyring.GetKeys() {
		if !slices.ContainsFunc(keep, func(x []byte) bool { return bytes.Equal(x, k) }) {
			if err := g.keyring.RemoveKey(k); err != nil {
				return fmt.Errorf("%s: rekey: %w", g.name, err)
			}
		}
	}
	return nil
}

// Name is the link name.
func (g *Gossip) Name() string { return g.name }

// Addr is the address other members use for this node (IP:port).
func (g *Gossip) Addr() string { return g.ml.LocalNode().Address() }

// HealthScore is memberlist's awareness score: 0 when this node keeps up
// with the protocol, higher when it misses its own probe deadlines
// (overloaded host or network).
func (g *Gossip) HealthScore() int { return g.ml.GetHealthScore() }

func (g *Gossip) isClosed() bool {
	select {
	case <-g.closed:
		return true
	default:
		return false
	}
}

func (g *Gossip) envelope(kind byte, b []byte) []byte {
	env := make([]byte, 0, 3+len(g.node)+len(b))
	env = append(env, envelopeVersion, kind, byte(len(g.node)))
	env = append(env, g.node...)
	return append(env, b...)
}

// others lists the members to send to: every node memberlist holds alive or
// suspect, except us. The nodes are copied at once because memberlist
// updates them under its lock.
func (g *Gossip) others() []memberlist.Node {
	var out []memberlist.Node
	for _, n := range g.ml.Members() {
		if n.Name != g.node {
			out = append(out, *n)
		}
	}
	return out
}

// Send delivers b to every other member. A failure towards one member does
// not stop the others; the first error is returned. With no other member
// there is nothing to do (like a broadcast nobody hears).
func (g *Gossip) Send(b []byte) error {
	if g.isClosed() {
		return fmt.Errorf("%s: send: %w", g.name, net.ErrClosed)
	}
	env := g.envelope(kindDatagram, b)
	peers := g.others()
	if len(env) > g.udpMax {
		return g.sendReliable(peers, env)
	}
	var first error
	for i := range peers {
		if err := g.ml.SendBestEffort(&peers[i], env); err != nil {
			g.sendErr.Add(1)
			if first == nil {
				first = fmt.Errorf("%s: send to %s: %w", g.name, peers[i].Name, err)
			}
			continue
		}
		g.sent.Add(1)
	}
	return first
}

// sendReliable queues env for each peer's TCP sender: Send runs in the
// daemon's loop and must not wait for a connect to a dead peer.
func (g *Gossip) sendReliable(peers []memberlist.Node, env []byte) error {
	var first error
	for _, p := range peers {
		select {
		case g.sender(p.Name) <- reliableMsg{node: p, data: env}:
		default:
			g.sendErr.Add(1)
			if first == nil {
				first = fmt.Errorf("%s: send to %s: %d large datagrams already queued", g.name, p.Name, reliableQueue)
			}
		}
	}
	return first
}

// sender returns the queue of node's TCP sender, starting it on first use.
func (g *Gossip) sender(node string) chan reliableMsg {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, ok := g.senders[node]
	if !ok {
		ch = make(chan reliableMsg, reliableQueue)
		g.senders[node] = ch
		g.wg.Add(1)
		go g.reliableLoop(ch)
	}
	return ch
}

// reliableLoop sends one peer's large datagrams in order, one connection
// each (memberlist's SendReliable).
func (g *Gossip) reliableLoop(ch chan reliableMsg) {
	defer g.wg.Done()
	for {
		select {
		case <-g.closed:
			return
		case m := <-ch:
			if g.isClosed() {
				return
			}
			if err := g.ml.SendReliable(&m.node, m.data); err != nil {
				g.sendErr.Add(1)
				g.log.Debug("gossip: large datagram not sent", "link", g.name, "to", m.node.Name, "bytes", len(m.data), "err", err)
				continue
			}
			g.sent.Add(1)
		}
	}
}

// Receive hands queued datagrams to deliver until ctx is done or the
// medium is closed. Datagrams that arrive before Receive runs wait in the
// queue (QueueLen); beyond it they are dropped and counted as ReadErrors.
func (g *Gossip) Receive(ctx context.Context, link int, deliver func(media.Packet)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.closed:
			return nil
		case p := <-g.rx:
			p.Link = link
			deliver(p)
		}
	}
}

// Close leaves the cluster (waiting up to LeaveTimeout for the broadcast,
// so peers see "left" rather than a failure) and shuts memberlist down.
// In-flight large datagrams may hold it up to TCPTimeout.
func (g *Gossip) Close() error {
	g.closeOnce.Do(func() {
		close(g.closed)
		bye := g.envelope(kindLeaving, nil)
		for _, p := range g.others() {
			_ = g.ml.SendBestEffort(&p, bye) // best effort: else peers show "dead"
		}
		if err := g.ml.Leave(g.leave); err != nil {
			g.log.Debug("gossip: leave not confirmed", "link", g.name, "err", err)
		}
		if err := g.ml.Shutdown(); err != nil {
			g.closeErr = fmt.Errorf("%s: shutdown: %w", g.name, err)
		}
		g.wg.Wait()
	})
	return g.closeErr
}

// Stats implements media.Medium. Sent and SendErrors count datagrams per
// member; Received counts datagrams queued for Receive; ReadErrors counts
// malformed envelopes and datagrams dropped on a full queue.
func (g *Gossip) Stats() media.Stats {
	return media.Stats{Sent: g.sent.Load(), SendErrors: g.sendErr.Load(), Received: g.recv.Load(), ReadErrors: g.readErr.Load()}
}

// Members is memberlist's view, sorted by name: members alive or suspect,
// and nodes seen before that are now dead or left. For cl_status and
// metrics only; hbd's membership decides node death from heartbeats.
//
// memberlist does not publish a member's suspect state, so "suspect" is
// reported from its own log line when its probes of that node fail, until
// the node next answers a direct probe or is declared dead.
func (g *Gossip) Members() []Member {
	live := g.ml.Members() // before g.mu: see the comment on mu
	var out []Member
	seen := map[string]bool{}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range live {
		m := Member{Name: n.Name, Addr: n.Address(), State: "alive", Self: n.Name == g.node}
		if p := g.peers[m.Name]; p != nil {
			if p.suspect {
				m.State = "suspect"
			}
			m.RTT = p.rtt
		}
		seen[m.Name] = true
		out = append(out, m)
	}
	for name, p := range g.peers {
		if !seen[name] && p.gone != "" {
			out = append(out, Member{Name: name, Addr: p.addr, State: p.gone, Self: name == g.node})
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// peerLocked returns name's record, creating it. g.mu must be held.
func (g *Gossip) peerLocked(name string) *peer {
	p := g.peers[name]
	if p == nil {
		p = &peer{}
		g.peers[name] = p
	}
	return p
}

// memberlistSays watches memberlist's log for its suspicion of a node, which
// it publishes nowhere else.
func (g *Gossip) memberlistSays(msg string) {
	rest, ok := strings.CutPrefix(msg, "Suspect ")
	if !ok {
		return
	}
	name, ok := strings.CutSuffix(rest, " has failed, no acks received")
	if !ok {
		return
	}
	g.mu.Lock()
	if p := g.peers[name]; p != nil && p.gone == "" {
		p.suspect = true
	}
	g.mu.Unlock()
}

// rejoinLoop joins, at once and then every RejoinInterval, each seed that
// is not a live member: that is the initial join (retried until a seed
// answers) and the rejoin after a partition or a peer's restart, which
// memberlist alone does not do once it has reaped a dead node.
func (g *Gossip) rejoinLoop() {
	defer g.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-g.closed:
			return
		case <-t.C:
		}
		g.joinMissing()
		t.Reset(g.rejoin)
	}
}

func (g *Gossip) joinMissing() {
	present := map[string]bool{}
	for _, n := range g.ml.Members() {
		present[n.Address()] = true
	}
	self := g.Addr()
	var wg sync.WaitGroup
	for _, s := range g.seeds {
		addr := s
		if a, err := net.ResolveUDPAddr("udp", s); err == nil {
			addr = a.String()
		}
		if addr == self || present[addr] {
			continue
		}
		wg.Add(1)
		// One goroutine per seed: an unreachable seed (TCPTimeout) must not
		// delay joining a reachable one.
		go func(seed string) {
			defer wg.Done()
			if g.isClosed() {
				return
			}
			if _, err := g.ml.Join([]string{seed}); err != nil {
				g.log.Debug("gossip: join failed", "link", g.name, "seed", seed, "err", err)
				return
			}
			g.log.Info("gossip: joined", "link", g.name, "seed", seed, "members", g.ml.NumMembers())
		}(s)
	}
	wg.Wait()
}

// delegate receives user messages (our datagrams) from memberlist.
type delegate struct{ g *Gossip }

func (delegate) NodeMeta(int) []byte               { return nil }
func (delegate) GetBroadcasts(_, _ int) [][]byte   { return nil }
func (delegate) LocalState(bool) []byte            { return nil }
func (delegate) MergeRemoteState(_ []byte, _ bool) {}
func (d delegate) NotifyMsg(b []byte)              { d.g.received(b) }

// received unwraps one envelope and queues a datagram; it must not block
// memberlist's packet loop.
func (g *Gossip) received(b []byte) {
	if len(b) < 3 || b[0] != envelopeVersion || b[1] > kindLeaving || len(b) < 3+int(b[2]) {
		g.readErr.Add(1)
		g.log.Debug("gossip: malformed datagram", "link", g.name, "bytes", len(b))
		return
	}
	n := int(b[2])
	from := Addr{Node: string(b[3 : 3+n])}
	g.mu.Lock()
	p := g.peerLocked(from.Node)
	from.Addr = p.addr
	if b[1] == kindLeaving {
		// The leave broadcast may have been handled first: dead becomes left.
		p.leaving = true
		if p.gone == "dead" {
			p.gone = "left"
		}
	}
	g.mu.Unlock()
	if b[1] == kindLeaving {
		return
	}
	data := make([]byte, len(b)-3-n) // memberlist reuses b after we return
	copy(data, b[3+n:])
	select {
	case g.rx <- media.Packet{Data: data, From: from, At: time.Now()}:
		g.recv.Add(1)
	default:
		g.readErr.Add(1)
	}
}

// events tracks members' addresses and how they went (dead or left), which
// memberlist's Members no longer shows. Called under memberlist's node lock.
type events struct{ g *Gossip }

func (e events) NotifyJoin(n *memberlist.Node)   { e.alive(n) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.alive(n) }

func (e events) alive(n *memberlist.Node) {
	g := e.g
	g.mu.Lock()
	p := g.peerLocked(n.Name)
	*p = peer{addr: n.Address(), rtt: p.rtt}
	g.mu.Unlock()
}

// NotifyLeave: memberlist's Node.State is not filled in, so whether the
// node left or failed comes from its own kindLeaving message.
func (e events) NotifyLeave(n *memberlist.Node) {
	g := e.g
	g.mu.Lock()
	p := g.peerLocked(n.Name)
	p.addr, p.suspect, p.gone = n.Address(), false, "dead"
	if p.leaving {
		p.gone = "left"
	}
	gone := p.gone
	g.mu.Unlock()
	g.log.Debug("gossip: member gone", "link", g.name, "node", n.Name, "state", gone)
}

// pings records direct probe round trips; an answered probe also ends our
// record of memberlist's suspicion.
type pings struct{ g *Gossip }

func (pings) AckPayload() []byte { return nil }

func (pp pings) NotifyPingComplete(n *memberlist.Node, rtt time.Duration, _ []byte) {
	g := pp.g
	g.mu.Lock()
	if p := g.peers[n.Name]; p != nil {
		p.rtt, p.suspect = rtt, false
	}
	g.mu.Unlock()
}
