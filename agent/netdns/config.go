package netdns

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures a Server.
type Config struct {
	// Port is where every listener binds on its gateway address: 53,
	// where Docker's resolver forwards. 0 gives each listener a port of
	// its own (tests; see Server.Addr).
	Port int
	// Upstreams are the resolvers other names are forwarded to, as
	// host:port. Empty: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for Upstreams when those are empty.
	ResolvConf string
	// TTL of the answers for the cluster's names. 0: clients must ask
	// again, so a moved task is never served from a cache.
	TTL uint32
	// ForwardTimeout bounds one forwarded exchange with one upstream.
	ForwardTimeout time.Duration
	// Interval is how often listeners that failed to start are retried
	// without a new view.
	Interval time.Duration
	// Logger receives the server's logs; nil is slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the settings for production.
func DefaultConfig() Config {
	return Config{
		Port:           53,
		ResolvConf:     "/etc/resolv.conf",
		ForwardTimeout: 2 * time.Second,
		Interval:       5 * time.Second,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return errors.New("netdns: port out of range")
	case len(c.Upstreams) == 0 && c.ResolvConf == "":
		return errors.New("netdns: no upstreams and no resolv.conf to read them from")
	case c.ForwardTimeout <= 0:
		return errors.New("netdns: forward timeout must be positive")
	case c.Interval <= 0:
		return errors.New("netdns: interval must be positive")
	}
	return nil
}
