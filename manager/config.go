package manager

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/state/raft"
)

// Config configures the manager components of a node (package daemon
// runs them, with the node's own settings in daemon.Config).
type Config struct {
	// DataDir holds the node's record, credentials, Raft log and API socket.
	DataDir string
	// Settings are the node's addresses and labels. Zero fields get
	// defaults (node.Settings.WithDefaults); they are remembered at init/join.
	Settings node.Settings
	// Raft tunes consensus timeouts; NodeID, Addr and DataDir are filled in.
	Raft raft.Config
	// Alive, if set, tells whether gossip sees a node alive; the leader's
	// dispatcher then holds a silent node up (see dispatcher.Config.Alive).
	Alive func(nodeID string) bool
	// Suspected, if set, tells whether this manager's gossip suspects a
	// node; the leader's dispatcher then marks a node that is both
	// suspected and late with its heartbeats DOWN early (see
	// dispatcher.Config.Suspected).
	Suspected func(nodeID string) bool
	// OnGossip, if set, is called with the cluster's gossip keys (primary
	// first) and the other managers' gossip addresses whenever they
	// change, from this manager's store.
	OnGossip func(keys [][]byte, peers []string)
	// Credentials, if set, are the node's credentials, shared with its
	// agent and renewed by the node's daemon. Nil loads them from DataDir.
	Credentials *node.Credentials
	// RestoreFrom, at init, starts the new cluster from a backup made by
	// `swarmctl cluster backup`: same cluster ID, CA, tokens, nodes,
	// services and tasks, with this node as its only manager.
	RestoreFrom string
	// AutoLock, at init, turns autolock on: the managers' Raft data keys
	// are wrapped with an unlock key that must be given on restart.
	AutoLock bool
	// DefaultAddrPool and SubnetSize, at init, set the cluster's address
	// pool: the IPv4 ranges (CIDR) that networks' subnets are taken from,
	// and the prefix length of those subnets (Docker's
	// --default-addr-pool and --default-addr-pool-mask-length). Empty and
	// 0 take Docker's defaults, 10.0.0.0/8 in /24s. They cannot change
	// afterwards.
	DefaultAddrPool []string
	SubnetSize      uint32
	// UnlockKey unwraps the Raft data key of a locked manager (autolock).
	UnlockKey *encryption.UnlockKey
	// JoinTimeout, at join, is how long an unreachable or busy manager is
	// retried before the join gives up (`--join-timeout`); zero is
	// ca.DefaultJoinRetry's 2 minutes. A refused token fails at once.
	JoinTimeout time.Duration
	// ShutdownTimeout bounds a clean shutdown.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// DefaultConfig returns a manager configuration for dataDir with LAN
// defaults.
func DefaultConfig(dataDir string) Config {
	return Config{
		DataDir:         dataDir,
		Raft:            raft.DefaultConfig(),
		ShutdownTimeout: 10 * time.Second,
		Logger:          slog.Default(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	for _, a := range []struct{ name, v string }{
		{"--listen-addr", c.Settings.ListenAddr},
		{"--advertise-addr", c.Settings.AdvertiseAddr},
		{"--gossip-addr", c.Settings.GossipAddr},
		{"--api-addr", c.Settings.APIAddr},
		{"--ui-addr", uiAddrToCheck(c.Settings.UIAddr)},
	} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want IP:PORT: %w", a.name, a.v, err))
		}
	}
	if c.JoinTimeout < 0 {
		errs = append(errs, fmt.Errorf("--join-timeout %s: must not be negative", c.JoinTimeout))
	}
	errs = append(errs, validateAddrPool(c.DefaultAddrPool, c.SubnetSize)...)
	if len(errs) > 0 {
		return fmt.Errorf("manager: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// UIAddrOff given as --ui-addr to `manager run` stops serving the
// dashboard that init, join or an earlier run turned on.
const UIAddrOff = node.UIAddrOff

func uiAddrToCheck(a string) string {
	if a == UIAddrOff {
		return ""
	}
	return a
}

// JoinRetry is the retry policy of a join with this configuration.
func (c *Config) JoinRetry() ca.JoinRetry {
	r := ca.DefaultJoinRetry()
	if c.JoinTimeout > 0 {
		r.Timeout = c.JoinTimeout
	}
	r.Logger = c.Logger
	return r
}

// MaxSubnetSize is the longest prefix of a network's subnet: a /29 holds
// the gateway, a load-balancer address and a few tasks.
const MaxSubnetSize = 29

// validateAddrPool checks the address pool settings: IPv4 CIDRs that do
// not overlap, and a subnet size that fits in every pool.
func validateAddrPool(pools []string, size uint32) []error {
	var errs []error
	var prefixes []netip.Prefix
	longest := 0
	for _, p := range pools {
		pfx, err := netip.ParsePrefix(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--default-addr-pool %q: %w", p, err))
			continue
		case !pfx.Addr().Is4():
			errs = append(errs, fmt.Errorf("--default-addr-pool %q: only IPv4 pools are supported", p))
			continue
		case pfx.Masked() != pfx:
			errs = append(errs, fmt.Errorf("--default-addr-pool %q: not a network address; did you mean %s?", p, pfx.Masked()))
			continue
		}
		for _, q := range prefixes {
			if q.Overlaps(pfx) {
				errs = append(errs, fmt.Errorf("--default-addr-pool %s overlaps %s", pfx, q))
			}
		}
		prefixes = append(prefixes, pfx)
		longest = max(longest, pfx.Bits())
	}
	if size == 0 {
		size = model.DefaultSubnetSize
	}
	if int(size) < longest || size > MaxSubnetSize {
		errs = append(errs, fmt.Errorf("--default-addr-pool-mask-length %d: must be between the pools' prefix length (%d) and %d", size, longest, MaxSubnetSize))
	}
	return errs
}
