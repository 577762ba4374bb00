package daemon

import (
	"context"
	"net"
	"sync"
	"time"
)

// hostProbe tells a host that is cut off from a process that is merely
// stalled. Gossip suspects both alike (their UDP probes go unanswered, and
// so do memberlist's TCP fallback probes), and both stop heartbeating. But
// the kernel of a host that is up completes a TCP handshake on the node's
// gossip port even while the process is paused, starved of CPU or in a
// long GC, whereas nothing answers for a host whose link is down. So a
// suspected node is taken for unreachable only once a TCP connect to its
// gossip address fails: a paused node is still held up by the heartbeat
// hold, and a busy machine makes no false positives.
//
// Probes run in the background, one at a time per node; unreachable
// answers from the last finished probe and never blocks (the dispatcher
// asks with its lock held).
type hostProbe struct {
	// timeout bounds one connect. 500 ms: a SYN-ACK takes well under a
	// millisecond on a LAN, and comes from the kernel's softirq, which a
	// loaded machine still serves promptly.
	timeout time.Duration
	// every is how old a result may be before it is probed again.
	every time.Duration
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)

	mu    sync.Mutex
	nodes map[string]*probeState
}

type probeState struct {
	addr    string
	at      time.Time // when the last probe finished; zero before
	failed  bool      // its connect failed
	running bool
}

func newHostProbe() *hostProbe {
	return &hostProbe{
		timeout: 500 * time.Millisecond,
		every:   time.Second,
		dial:    (&net.Dialer{}).DialContext,
		nodes:   map[string]*probeState{},
	}
}

// unreachable tells whether the last probe of the node's gossip address
// failed, and starts a new probe if there is none yet, the address changed
// or the result is older than every. A result older than twice every is
// not trusted: the host may have been cut off then and be back now.
func (p *hostProbe) unreachable(nodeID, addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.nodes[nodeID]
	if s == nil || s.addr != addr {
		s = &probeState{addr: addr}
		p.nodes[nodeID] = s
	}
	if !s.running && (s.at.IsZero() || time.Since(s.at) > p.every) {
		s.running = true
		go p.probe(nodeID, s)
	}
	return !s.at.IsZero() && time.Since(s.at) <= 2*p.every && s.failed
}

func (p *hostProbe) probe(nodeID string, s *probeState) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	conn, err := p.dial(ctx, "tcp", s.addr)
	cancel()
	if err == nil {
		conn.Close()
	}
	p.mu.Lock()
	s.at, s.failed, s.running = time.Now(), err != nil, false
	p.mu.Unlock()
}

// forget drops what is known of a node that is no longer suspected, so
// that a later suspicion starts from a fresh probe.
func (p *hostProbe) forget(nodeID string) {
	p.mu.Lock()
	delete(p.nodes, nodeID) // a probe still running updates a detached state
	p.mu.Unlock()
}
