// Package gossiptest provides an in-memory network for gossip tests, built
// on memberlist's MockNetwork, that can cut links: partitions, a node cut
// off for a while (a stall or a network blip), a node that crashed.
//
// Use one Network per test: make a Transport per member with NewTransport,
// pass it as discovery.Config.Transport, join members with Transport.Addr,
// cut and heal links while they run, and Close the network once every
// member is shut down.
package gossiptest

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network connects Transports in memory. Packets are delivered in order
// unless a link is cut, in which case they are dropped silently, as UDP
// would be, and connections fail. All methods are safe for concurrent use.
type Network struct {
	mu       sync.Mutex
	mock     memberlist.MockNetwork // addresses and receiving channels
	byAddr   map[string]*Transport
	byName   map[string]*Transport
	cut      map[[2]string]bool // directed links (from, to) that drop everything
	isolated map[string]bool
	closed   bool
	done     chan struct{}
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{
		byAddr:   make(map[string]*Transport),
		byName:   make(map[string]*Transport),
		cut:      make(map[[2]string]bool),
		isolated: make(map[string]bool),
		done:     make(chan struct{}),
	}
}

// NewTransport returns a transport for the member named name, with a new
// address. A second transport for the same name (a restarted member) takes
// the name over; the old one keeps its address.
func (n *Network) NewTransport(name string) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	mt := n.mock.NewTransport(name)
	ip, port, err := mt.FinalAdvertiseAddr("", 0)
	if err != nil {
		panic(fmt.Sprintf("gossiptest: mock transport address: %v", err))
	}
	t := &Transport{
		net:      n,
		name:     name,
		mock:     mt,
		addr:     mockAddr(net.JoinHostPort(ip.String(), fmt.Sprint(port))),
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlist.Packet, 1024),
		streamCh: make(chan net.Conn, 64),
		stopped:  make(chan struct{}),
	}
	n.byAddr[t.addr.String()] = t
	n.byName[name] = t
	go t.pumpPackets()
	go t.pumpStreams()
	return t
}

// Partition cuts every link between a member of one group and a member of
// another, both ways. Members in no group are not affected.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					n.cut[[2]string{x, y}] = true
				}
			}
		}
	}
}

// Isolate cuts every link to and from the named members: to the others
// they look stalled or crashed, and they see everyone else fail.
func (n *Network) Isolate(names ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range names {
		n.isolated[name] = true
	}
}

// Heal restores every link.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	clear(n.isolated)
}

// Close stops delivery. Call it after the members are shut down.
func (n *Network) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.done)
	}
}

// route returns the transport a packet or connection from src to addr
// reaches, or nil when the link is cut or the address unknown.
func (n *Network) route(src *Transport, a memberlist.Address) (*Transport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("gossiptest: network closed")
	}
	dst := n.byAddr[a.Addr]
	if a.Name != "" {
		if t, ok := n.byName[a.Name]; ok {
			dst = t
		}
	}
	if dst == nil {
		return nil, fmt.Errorf("gossiptest: no route to %s", a.Addr)
	}
	if n.isolated[src.name] || n.isolated[dst.name] || n.cut[[2]string{src.name, dst.name}] {
		return nil, nil
	}
	return dst, nil
}

// Transport is one member's end of a Network; it implements memberlist's
// NodeAwareTransport.
type Transport struct {
	net  *Network
	name string
	mock *memberlist.MockTransport
	addr mockAddr
	ip   net.IP
	port int

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	stopped  chan struct{}
	stopOnce sync.Once

	sent, received, dropped atomic.Uint64
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Addr returns the transport's address, to join its member.
func (t *Transport) Addr() string { return t.addr.String() }

// Stats returns the packets this transport sent, received, and dropped
// because its member's queue was full.
func (t *Transport) Stats() (sent, received, dropped uint64) {
	return t.sent.Load(), t.received.Load(), t.dropped.Load()
}

// FinalAdvertiseAddr returns the transport's address.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo sends a packet to addr.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet, dropping it if the link is cut.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	dst, err := t.net.route(t, a)
	if err != nil {
		return now, err
	}
	t.sent.Add(1)
	if dst == nil {
		return now, nil
	}
	// The mock's own WriteTo reads its address maps without a lock, which
	// races with NewTransport; ingesting into the destination does not.
	conn := &packetConn{Reader: bytes.NewReader(b), from: t.addr}
	if err := dst.mock.IngestPacket(conn, t.addr, now, true); err != nil {
		return now, err
	}
	return now, nil
}

// PacketCh returns the received packets.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout opens a stream to addr.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream, failing at once if the link is cut.
func (t *Transport) DialAddressTimeout(a memberlist.Address, _ time.Duration) (net.Conn, error) {
	dst, err := t.net.route(t, a)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: mockAddr(a.Addr), Err: fmt.Errorf("link cut")}
	}
	local, remote := net.Pipe()
	if err := dst.mock.IngestStream(remote); err != nil {
		return nil, err
	}
	return local, nil
}

// StreamCh returns the incoming streams.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown stops delivery to this transport's member; what arrives later
// is discarded, so that senders never block on a member that is gone.
func (t *Transport) Shutdown() error {
	t.stopOnce.Do(func() { close(t.stopped) })
	return nil
}

// pumpPackets moves packets from the mock's unbuffered channel to the
// member's buffered one, dropping them when the member's queue is full
// (as a socket buffer would) or the member is gone.
func (t *Transport) pumpPackets() {
	for {
		select {
		case p := <-t.mock.PacketCh():
			select {
			case <-t.stopped:
				continue
			default:
			}
			select {
			case t.packetCh <- p:
				t.received.Add(1)
			default:
				t.dropped.Add(1)
			}
		case <-t.net.done:
			return
		}
	}
}

func (t *Transport) pumpStreams() {
	for {
		select {
		case c := <-t.mock.StreamCh():
			select {
			case <-t.stopped:
				c.Close()
				continue
			default:
			}
			select {
			case t.streamCh <- c:
			case <-t.stopped:
				c.Close()
			case <-t.net.done:
				c.Close()
				return
			}
		case <-t.net.done:
			return
		}
	}
}

// mockAddr is a net.Addr of the mock network.
type mockAddr string

func (a mockAddr) Network() string { return "mock" }
func (a mockAddr) String() string  { return string(a) }

// packetConn is the read-only net.Conn MockTransport.IngestPacket reads one
// packet from.
type packetConn struct {
	*bytes.Reader
	from net.Addr
}

func (c *packetConn) Write([]byte) (int, error)        { return 0, fmt.Errorf("gossiptest: read-only") }
func (c *packetConn) Close() error                     { return nil }
func (c *packetConn) LocalAddr() net.Addr              { return c.from }
func (c *packetConn) RemoteAddr() net.Addr             { return c.from }
func (c *packetConn) SetDeadline(time.Time) error      { return nil }
func (c *packetConn) SetReadDeadline(time.Time) error  { return nil }
func (c *packetConn) SetWriteDeadline(time.Time) error { return nil }
