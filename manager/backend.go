package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/eventlog"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// backend implements api.Backend over the manager's Raft node.
type backend struct {
	m *Manager
}

var (
	_ api.Backend     = backend{}
	_ api.EventSource = backend{}
)

func (b backend) Events() *eventlog.Log { return b.m.events }

func (b backend) Store() *state.Store                   { return b.m.store }
func (b backend) ReadBarrier(ctx context.Context) error { return b.m.raft.ReadBarrier(ctx) }

func (b backend) Propose(ctx context.Context, cmd *state.Command) (state.Results, error) {
	start := time.Now()
	res, err := b.m.raft.Propose(ctx, cmd)
	b.m.metrics.commit.Observe(time.Since(start).Seconds())
	return res, err
}

func (b backend) NodeID() string { return b.m.st.NodeID }

// IsManager is false once the store says this node was demoted, until the
// node stops its manager components.
func (b backend) IsManager() bool {
	return b.m.checkStillManager(b.m.st.NodeID) == nil
}

func (b backend) LeaderID() string {
	id, _ := b.m.raft.Leader()
	return id
}

func (b backend) Reachability(nodeID string) model.Reachability {
	members, err := b.m.raft.Members()
	if err != nil {
		return model.ReachabilityUnknown
	}
	for _, mem := range members {
		if mem.ID == nodeID {
			if b.m.raft.Reachable(nodeID) {
				return model.ReachabilityReachable
			}
			return model.ReachabilityUnreachable
		}
	}
	return model.ReachabilityUnknown
}

func (b backend) RemoveManager(ctx context.Context, nodeID string) error {
	return b.m.raft.RemoveServer(ctx, nodeID)
}

func (b backend) SubscribeLogs(ctx context.Context, sel api.LogSelector, opts api.LogOptions) (<-chan api.LogMessage, error) {
	return b.m.subscribeLogs(ctx, sel, opts)
}

func (b backend) Metrics() (prometheus.Registerer, prometheus.Gatherer) {
	return b.m.metrics.reg, b.m.metrics.reg
}

// serveAPI serves the Docker Engine API on the unix socket and, if set, on
// TCP: plain HTTP on a loopback address, mutual TLS with a manager
// certificate of this cluster on any other. The returned closed waits,
// once ctx has ended, until every listener is closed: the socket's path
// is then free for the worker's API of a demoted node (requests in flight
// may still finish).
func (m *Manager) serveAPI(ctx context.Context) (closed func(), err error) {
	cfg := api.DefaultConfig()
	cfg.Logger = m.log
	srv := api.NewServer(backend{m: m}, cfg)
	s := m.st.Settings
	var listeners []*closeSignal
	if p := s.APISocketPath(); p != "" {
		l, err := api.ListenUnix(p)
		if err != nil {
			return nil, fmt.Errorf("manager: API socket: %w", err)
		}
		listeners = append(listeners, newCloseSignal(l))
	}
	if s.APIAddr != "" {
		l, err := m.listenAPITCP(s.APIAddr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, err
		}
		listeners = append(listeners, newCloseSignal(l))
	}
	for _, l := range listeners {
		go func() {
			if err := srv.Serve(ctx, l); err != nil && ctx.Err() == nil {
				m.log.Error("API server stopped", "addr", l.Addr(), "err", err)
			}
		}()
	}
	return func() {
		for _, l := range listeners {
			<-l.done
		}
	}, nil
}

// closeSignal is a listener that closes done once it is closed. Serve
// closes its listener first thing when it shuts down.
type closeSignal struct {
	net.Listener
	once sync.Once
	done chan struct{}
}

func newCloseSignal(l net.Listener) *closeSignal {
	return &closeSignal{Listener: l, done: make(chan struct{})}
}

func (l *closeSignal) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

func (m *Manager) listenAPITCP(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--api-addr %q: %w", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("manager: API address: %w", err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return l, nil
	}
	cfg, err := m.creds.ServerTLS(ca.WithRevocation(m.isRevoked), ca.WithLogger(m.log))
	if err != nil {
		l.Close()
		return nil, err
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verify(cs); err != nil {
			return err
		}
		id, err := ca.PeerIdentity(cs)
		if err != nil {
			return err
		}
		if id.Role != model.RoleManager {
			err := fmt.Errorf("node %s holds a %s certificate: the control API needs a manager certificate", id.NodeID, id.Role)
			m.log.Warn("refused API client", "err", err)
			return err
		}
		return m.checkStillManager(id.NodeID)
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return tls.NewListener(l, cfg), nil
}

// subscribeLogs adapts the dispatcher's log broker, which reaches the
// agents running the tasks (through the leader), to the API's log types.
func (m *Manager) subscribeLogs(ctx context.Context, sel api.LogSelector, opts api.LogOptions) (<-chan api.LogMessage, error) {
	dopts := dispatcher.LogOptions{Follow: opts.Follow, Since: opts.Since, Timestamps: true}
	switch {
	case opts.Tail == api.TailAll:
		dopts.Tail = 0
	case opts.Tail == 0:
		dopts.Tail = protocol.TailNone
	default:
		dopts.Tail = opts.Tail
	}
	in, err := m.disp.SubscribeLogs(ctx, dispatcher.LogSelector{ServiceIDs: sel.ServiceIDs, TaskIDs: sel.TaskIDs}, dopts)
	if err != nil {
		return nil, err
	}
	out := make(chan api.LogMessage, 64)
	go func() {
		defer close(out)
		for msg := range in {
			am := api.LogMessage{
				Context:   api.LogContext{NodeID: msg.Context.NodeID, ServiceID: msg.Context.ServiceID, TaskID: msg.Context.TaskID},
				Timestamp: msg.Timestamp,
				Stream:    api.LogStdout,
				Data:      []byte(msg.Text),
			}
			if msg.Stream == "stderr" {
				am.Stream = api.LogStderr
			}
			if msg.Err != "" {
				am.Err = errors.New(msg.Err)
			}
			if (am.Stream == api.LogStdout && !opts.Stdout) || (am.Stream == api.LogStderr && !opts.Stderr) {
				if am.Err == nil {
					continue
				}
			}
			select {
			case out <- am:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
