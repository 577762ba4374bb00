package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// ALPN protocol names spoken on the cluster port.
const (
	ProtoRaft  = "shoal-raft/1"
	ProtoHTTP2 = "h2"
	ProtoHTTP1 = "http/1.1"
)

// ErrClosed is returned by listeners of a closed Mux.
var ErrClosed = errors.New("transport: closed")

// Config configures a Mux.
type Config struct {
	// TLS is the server configuration. Its NextProtos are set by the Mux.
	TLS *tls.Config
	// AuthorizeRaft vets a Raft connection's verified TLS state, e.g. that
	// the peer holds a manager certificate of this cluster.
	AuthorizeRaft func(tls.ConnectionState) error
	// HandshakeTimeout bounds a client's TLS handshake.
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
}

// Mux accepts TLS connections on the cluster port and routes them by ALPN.
type Mux struct {
	ln    net.Listener
	cfg   Config
	log   *slog.Logger
	raft  chan net.Conn
	http  chan net.Conn
	done  chan struct{}
	close sync.Once
	wg    sync.WaitGroup
}

// New returns a Mux serving on ln. Call Serve.
func New(ln net.Listener, cfg Config) *Mux {
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tc := cfg.TLS.Clone()
	tc.NextProtos = []string{ProtoRaft, ProtoHTTP2, ProtoHTTP1}
	cfg.TLS = tc
	return &Mux{
		ln:   ln,
		cfg:  cfg,
		log:  cfg.Logger.With("component", "transport"),
		raft: make(chan net.Conn),
		http: make(chan net.Conn),
		done: make(chan struct{}),
	}
}

// Addr is the listening address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Serve accepts connections until Close.
func (m *Mux) Serve() error {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("transport: accept: %w", err)
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

// peekConn lets the first bytes be inspected before TLS reads them.
type peekConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func (m *Mux) route(raw net.Conn) {
	_ = raw.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	pc := &peekConn{Conn: raw, r: bufio.NewReader(raw)}
	if first, err := pc.r.Peek(1); err == nil && first[0] != 0x16 {
		// Not a TLS handshake record. Tell a plain HTTP client why.
		if first[0] >= 'A' && first[0] <= 'Z' {
			_, _ = raw.Write([]byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
				"This is a swarm cluster port: it requires TLS with a certificate issued by the cluster CA.\n"))
		}
		m.log.Warn("refused non-TLS connection on the cluster port", "remote", raw.RemoteAddr())
		raw.Close()
		return
	}
	c := tls.Server(pc, m.cfg.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.HandshakeTimeout)
	err := c.HandshakeContext(ctx)
	cancel()
	if err != nil {
		m.log.Warn("TLS handshake failed on the cluster port", "remote", raw.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	cs := c.ConnectionState()
	var ch chan net.Conn
	switch cs.NegotiatedProtocol {
	case ProtoRaft:
		if m.cfg.AuthorizeRaft != nil {
			if err := m.cfg.AuthorizeRaft(cs); err != nil {
				m.log.Warn("refused Raft connection", "remote", raw.RemoteAddr(), "err", err)
				c.Close()
				return
			}
		}
		ch = m.raft
	default:
		ch = m.http
	}
	select {
	case ch <- c:
	case <-m.done:
		c.Close()
	}
}

// Close stops accepting and closes the listener.
func (m *Mux) Close() error {
	var err error
	m.close.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	return err
}

// chanListener is a net.Listener fed by the Mux. Closing it stops its
// Accept, not the Mux.
type chanListener struct {
	m      *Mux
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(m *Mux, ch chan net.Conn) *chanListener {
	return &chanListener{m: m, ch: ch, closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	case <-l.m.done:
		return nil, ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.m.ln.Addr() }

// HTTPListener returns the listener of HTTP connections, for http.Server.
// Its connections are *tls.Conn with the handshake done.
func (m *Mux) HTTPListener() net.Listener { return newChanListener(m, m.http) }

// RaftLayer returns Raft's stream layer: it accepts the Mux's Raft
// connections and dials other managers with clientTLS, called per dial so
// renewed certificates are used.
func (m *Mux) RaftLayer(advertise net.Addr, clientTLS func() (*tls.Config, error)) hraft.StreamLayer {
	return &raftLayer{chanListener: newChanListener(m, m.raft), advertise: advertise, clientTLS: clientTLS}
}

type raftLayer struct {
	*chanListener
	advertise net.Addr
	clientTLS func() (*tls.Config, error)
}

func (l *raftLayer) Addr() net.Addr { return l.advertise }

func (l *raftLayer) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	cfg, err := l.clientTLS()
	if err != nil {
		return nil, err
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{ProtoRaft}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", string(addr))
	if err != nil {
		return nil, err
	}
	if p := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != ProtoRaft {
		c.Close()
		return nil, fmt.Errorf("transport: %s does not speak Raft (negotiated %q)", addr, p)
	}
	return c, nil
}

// ServerAddress converts an address for Raft's stream layer.
func ServerAddress(addr string) hraft.ServerAddress { return hraft.ServerAddress(addr) }
