package gossip

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// mockNet is memberlist's MockNetwork with what a real network does and the
// mock does not:
//   - a node that is down (crashed or closed) loses what is sent to it; the
//     mock's unbuffered channels would block the sender for ever instead;
//   - a sender never waits for the receiver to take a packet: the mock makes
//     it wait, and two memberlists answering each other's probes from their
//     packet loops could then wait for each other;
//   - a node started again under the same name gets the same address, as a
//     restarted process binding the same port does.
//
// Every node name is registered up front: MockNetwork's maps are not safe
// to grow while memberlists are running.
type mockNet struct {
	mn    memberlist.MockNetwork
	nodes map[string]*mockNode
	done  chan struct{}
}

// mockNode is one address of the network, reused across restarts.
type mockNode struct {
	name string
	mt   *memberlist.MockTransport

	mu        sync.Mutex
	current   *mockTransport // the running memberlist's transport; nil: down
	maxPacket int            // the largest packet this node has sent
	dropped   int            // packets lost at this node's address while it ran: a full queue
}

// Queues in front of a running memberlist. Nothing in these tests comes
// near them; a full queue loses packets as a socket buffer would, counted
// in dropped.
const (
	mockPacketQueue = 4096
	mockStreamQueue = 64
)

func newMockNet(t *testing.T, names ...string) *mockNet {
	n := &mockNet{nodes: map[string]*mockNode{}, done: make(chan struct{})}
	for _, name := range names {
		nd := &mockNode{name: name, mt: n.mn.NewTransport(name)}
		n.nodes[name] = nd
		go nd.forward(n.done)
	}
	t.Cleanup(func() { close(n.done) })
	return n
}

// forward takes everything the mock delivers to the node's address and
// hands it to the running memberlist, or drops it while none runs.
func (nd *mockNode) forward(done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case p := <-nd.mt.PacketCh():
			if cur := nd.running(); cur != nil {
				select {
				case cur.packets <- p:
				default:
					nd.mu.Lock()
					nd.dropped++
					nd.mu.Unlock()
				}
			}
		case c := <-nd.mt.StreamCh():
			cur := nd.running()
			if cur == nil {
				c.Close() // the dialer sees the connection fail
				continue
			}
			select {
			case cur.streams <- c:
			default:
				c.Close()
			}
		}
	}
}

func (nd *mockNode) running() *mockTransport {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.current
}

// largestPacket is the size of the largest packet the node sent.
func (nd *mockNode) largestPacket() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.maxPacket
}

// droppedPackets is how many packets a full queue lost at the node.
func (nd *mockNode) droppedPackets() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.dropped
}

// transport attaches a new memberlist instance to name's address.
func (n *mockNet) transport(t *testing.T, name string) *mockTransport {
	nd := n.nodes[name]
	if nd == nil {
		t.Fatalf("mock network: node %q was not registered", name)
	}
	tr := &mockTransport{node: nd, packets: make(chan *memberlist.Packet, mockPacketQueue),
		streams: make(chan net.Conn, mockStreamQueue), down: make(chan struct{})}
	nd.mu.Lock()
	if nd.current != nil {
		nd.mu.Unlock()
		t.Fatalf("mock network: %s is already running", name)
	}
	nd.current = tr
	nd.mu.Unlock()
	return tr
}

// addr is name's address on the network.
func (n *mockNet) addr(name string) string {
	ip, port, _ := n.nodes[name].mt.FinalAdvertiseAddr("", 0)
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// mockTransport is one memberlist instance's view of its address.
type mockTransport struct {
	node     *mockNode
	packets  chan *memberlist.Packet
	streams  chan net.Conn
	down     chan struct{}
	downOnce sync.Once
}

var _ memberlist.NodeAwareTransport = (*mockTransport)(nil)

var errDown = errors.New("mock network: this node is down")

func (tr *mockTransport) isDown() bool {
	select {
	case <-tr.down:
		return true
	default:
		return false
	}
}

func (tr *mockTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return tr.node.mt.FinalAdvertiseAddr(ip, port)
}

func (tr *mockTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return tr.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (tr *mockTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if tr.isDown() {
		return time.Time{}, errDown
	}
	tr.node.mu.Lock()
	tr.node.maxPacket = max(tr.node.maxPacket, len(b))
	tr.node.mu.Unlock()
	return tr.node.mt.WriteToAddress(b, a)
}

func (tr *mockTransport) PacketCh() <-chan *memberlist.Packet { return tr.packets }
func (tr *mockTransport) StreamCh() <-chan net.Conn           { return tr.streams }

func (tr *mockTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return tr.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (tr *mockTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if tr.isDown() {
		return nil, errDown
	}
	return tr.node.mt.DialAddressTimeout(a, timeout)
}

func (tr *mockTransport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	return tr.node.mt.IngestPacket(conn, addr, now, shouldClose)
}

func (tr *mockTransport) IngestStream(conn net.Conn) error { return tr.node.mt.IngestStream(conn) }

// Shutdown takes the node off the network: from now on what is sent to its
// address is lost, and it sends nothing.
func (tr *mockTransport) Shutdown() error {
	tr.downOnce.Do(func() {
		close(tr.down)
		tr.node.mu.Lock()
		if tr.node.current == tr {
			tr.node.current = nil
		}
		tr.node.mu.Unlock()
	})
	return nil
}
