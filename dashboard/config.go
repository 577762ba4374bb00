package dashboard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures a Dashboard.
type Config struct {
	// Addr is the TCP address to serve on, IP:PORT (`--ui-addr`). The
	// dashboard is read-only but shows the whole cluster: 127.0.0.1 is
	// the recommended address, reached through an SSH tunnel.
	Addr string
	// TLS, if set, serves HTTPS with it; the manager sets its own server
	// certificate for any address that is not loopback. No client
	// certificate is asked for: browsers do not hold one.
	TLS *tls.Config
	// Coalesce is how long changes from the store are gathered before
	// they are sent to a page as one delta, keyed by object ID (the last
	// state of an object wins). 150 ms: a rolling update or a drain
	// commits hundreds of task changes a second, and a page redrawing at
	// ~7 Hz looks live while the stream stays cheap.
	Coalesce time.Duration
	// RaftInterval is how often the Raft view (leader, term, indexes and
	// lag per manager, fault tolerance) is refreshed and pushed. Each
	// refresh asks every other manager for its Raft state: one small
	// request per manager per interval. 1 s.
	RaftInterval time.Duration
	// PeerTimeout bounds one such request; a manager that does not answer
	// in time counts as unreachable. 700 ms, under RaftInterval.
	PeerTimeout time.Duration
	// StaleAfter is how long a follower may go without hearing from a
	// leader before the page marks what it shows as stale: the manager it
	// talks to may be cut off from the quorum. 3 s, a few election
	// timeouts of the LAN profile.
	StaleAfter time.Duration
	// MaxStreams bounds the pages served at once: each holds a watch of
	// the store and costs the manager a snapshot when it connects (2 MiB
	// of JSON at 10,000 tasks). Beyond it a page is answered 503 and its
	// EventSource retries. 32: a team looking at one cluster, not a
	// public site.
	MaxStreams int
	// EventHistory is how many recent events (objects created, updated,
	// removed) a page gets when it connects. 200.
	EventHistory int
	Logger       *slog.Logger
}

// DefaultConfig returns the defaults, with no address (the dashboard is
// off until one is given).
func DefaultConfig() Config {
	return Config{
		Coalesce:     150 * time.Millisecond,
		RaftInterval: time.Second,
		PeerTimeout:  700 * time.Millisecond,
		StaleAfter:   3 * time.Second,
		MaxStreams:   32,
		EventHistory: 200,
		Logger:       slog.Default(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--ui-addr %q: want IP:PORT: %w", c.Addr, err))
	}
	if c.Coalesce <= 0 || c.Coalesce > 5*time.Second {
		errs = append(errs, fmt.Errorf("Coalesce %s: want more than 0 and at most 5s", c.Coalesce))
	}
	if c.RaftInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("RaftInterval %s: want at least 100ms", c.RaftInterval))
	}
	if c.PeerTimeout <= 0 || c.PeerTimeout > c.RaftInterval {
		errs = append(errs, fmt.Errorf("PeerTimeout %s: want more than 0 and at most RaftInterval (%s)", c.PeerTimeout, c.RaftInterval))
	}
	if c.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("StaleAfter %s: must be positive", c.StaleAfter))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("MaxStreams %d: must be at least 1", c.MaxStreams))
	}
	if c.EventHistory < 0 {
		errs = append(errs, fmt.Errorf("EventHistory %d: must not be negative", c.EventHistory))
	}
	if len(errs) > 0 {
		return fmt.Errorf("dashboard: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// IsLoopback tells whether addr's host is a loopback IP or localhost:
// plain HTTP is served there only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
