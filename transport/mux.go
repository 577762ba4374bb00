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

	"github.com/shoal-dev/shoal/internal/ratelog"
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
	// LogInterval is how often refused connections are summarised in the
	// log (ratelog.DefaultInterval if zero): anyone who can reach the
	// port can cause them, so each kind logs its first event in full and
	// then one line with a count per interval, never one line per event.
	LogInterval time.Duration
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

	// Summaries of the refused connections, one per kind.
	failedHandshakes, refusedPlain, refusedRaft *ratelog.Summary
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
	log := cfg.Logger.With("component", "transport")
	return &Mux{
		ln:               ln,
		cfg:              cfg,
		log:              log,
		raft:             make(chan net.Conn),
		http:             make(chan net.Conn),
		done:             make(chan struct{}),
		failedHandshakes: ratelog.New(log, slog.LevelWarn, "failed TLS handshakes on the cluster port", cfg.LogInterval, nil),
		refusedPlain:     ratelog.New(log, slog.LevelWarn, "refused non-TLS connections on the cluster port", cfg.LogInterval, nil),
		refusedRaft:      ratelog.New(log, slog.LevelWarn, "refused Raft connections", cfg.LogInterval, nil),
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
		m.refusedPlain.Add(hostOf(raw.RemoteAddr()), "refused non-TLS connection on the cluster port", "remote", raw.RemoteAddr())
		raw.Close()
		return
	}
	c := tls.Server(pc, m.cfg.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.HandshakeTimeout)
	err := c.HandshakeContext(ctx)
	cancel()
	if err != nil {
		m.failedHandshakes.Add(hostOf(raw.RemoteAddr()), "TLS handshake failed on the cluster port", "remote", raw.RemoteAddr(), "err", err)
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
				m.refusedRaft.Add(hostOf(raw.RemoteAddr()), "refused Raft connection", "remote", raw.RemoteAddr(), "err", err)
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

// hostOf is the IP of a remote address: the source a summary counts.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// Close stops accepting, closes the listener and logs the summaries of
// the connections refused since the last ones.
func (m *Mux) Close() error {
	var err error
	m.close.Do(func() {
		close(m.done)
		err = m.ln.Close()
		m.failedHandshakes.Close()
		m.refusedPlain.Close()
		m.refusedRaft.Close()
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
