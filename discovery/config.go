package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/model"
)

// DefaultPort is the gossip port, UDP and TCP, as in Docker.
const DefaultPort = 7946

// Config configures a Gossip. Start from DefaultLANConfig (production on a
// LAN), DefaultWANConfig (slow links) or DefaultLocalConfig (one machine,
// tests), then set the node's identity, its keys and its hooks. The timing
// fields are memberlist's; the profile constructors explain their values
// and doc.go gives the resulting detection times, measured.
type Config struct {
	// NodeID is the node's ID, also its name in memberlist. It must be
	// unique in the cluster; see validateNodeID for the characters allowed.
	NodeID string
	// Role is the node's role, carried in its metadata.
	Role model.NodeRole
	// ClusterAddr is a manager's advertised cluster address (host:port),
	// required for managers, empty for workers.
	ClusterAddr string
	// APIAddr is the node's TCP control API address (host:port), if any.
	APIAddr string

	// BindAddr is the IP and port gossip listens on, UDP and TCP:
	// "0.0.0.0:7946" by default. Port 0 picks a free port (tests). Ignored
	// when Transport is set.
	BindAddr string
	// AdvertiseAddr is the IP:port the others reach this node at. Empty:
	// the bound IP, or a private IP of the machine when bound to 0.0.0.0,
	// with the bound port. It goes into ManagerStatus.GossipAddr.
	AdvertiseAddr string
	// Transport replaces the UDP/TCP transport; tests pass one made by
	// gossiptest.Network, benchmarks a counting wrapper. Nil in production.
	Transport memberlist.Transport

	// Keys are the gossip encryption keys (AES-GCM, 16, 24 or 32 bytes;
	// the manager makes 32-byte keys): the first is the primary key, used
	// to encrypt; all are tried to decrypt. Every packet and stream is
	// encrypted and authenticated, and unencrypted traffic is refused. The
	// keys come from the cluster object (Cluster.GossipKeys), delivered by
	// a manager over the node's mutually authenticated session, never from
	// the join token. Change them in place with Gossip.SetKeys.
	Keys [][]byte
	// InsecureNoEncryption lets a Config without Keys start with plain
	// text gossip. For tests only: New refuses a Config without keys
	// unless it is set.
	InsecureNoEncryption bool
	// Label, if set, is put on every packet and stream and authenticated
	// with it (GCM additional data): nodes with another label refuse the
	// traffic even with the same key. The cluster ID is a good label. At
	// most 255 bytes; it costs len+2 bytes per packet.
	Label string

	// IsRemoved reports whether a node was removed from the cluster (`node
	// rm`; Cluster.RemovedNodes). Gossip refuses the alive messages of a
	// removed node, so that it cannot join or rejoin, refuses a join merge
	// coming from removed nodes only, hides removed nodes from Members and
	// drops their events. It is called from memberlist's goroutines while
	// memberlist holds its locks: it must be safe for concurrent use, fast,
	// and must not call into the Gossip. Nil: no node is removed (workers,
	// which do not have the list).
	IsRemoved func(nodeID string) bool
	// Events, if set, receives membership changes of the other members.
	// See EventHandler for the calling contract.
	Events EventHandler
	// Logger receives gossip logs with component=gossip and node=NodeID.
	// memberlist's own log lines are routed to it with their level.
	Logger *slog.Logger

	// ProbeInterval is the time between two probes by this node: each
	// interval it pings one member (round robin over a shuffled list). A
	// probe that gets no ack within ProbeTimeout is retried through
	// IndirectChecks other members and over TCP until the end of the
	// interval; then the member is suspected. Shorter detects failures
	// sooner and costs more packets.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct ping waits for its ack. It should
	// be above the 99th percentile round trip time, including the time a
	// loaded node takes to answer.
	ProbeTimeout time.Duration
	// IndirectChecks is the number of members asked to ping a member that
	// did not answer a direct ping. They also answer with a nack when they
	// get no ack themselves, which tells a prober whether it is its own
	// network that fails (Lifeguard's local health).
	IndirectChecks int
	// SuspicionMult sets how long a suspected member has to refute before
	// it is declared failed: SuspicionMult × max(1, log10(n)) ×
	// ProbeInterval when SuspicionMult-2 other members confirm the
	// suspicion on their own (Lifeguard); see Timing.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion timeout without
	// confirmations: SuspicionMaxTimeoutMult times the above. A node that
	// is itself cut off gets no confirmations, so it waits this long
	// before it declares the others failed.
	SuspicionMaxTimeoutMult int
	// AwarenessMaxMultiplier bounds how much a node that finds itself
	// unhealthy (its probes fail and nobody nacks) stretches its probe
	// interval and probe deadline (Lifeguard's local health awareness).
	AwarenessMaxMultiplier int
	// GossipInterval is the time between two gossip rounds, each sending
	// the pending broadcasts (joins, suspicions, deaths, metadata changes)
	// to GossipNodes random members. Only rounds with something to send
	// send packets.
	GossipInterval time.Duration
	GossipNodes    int
	// GossipToTheDeadTime is how long a failed member keeps getting
	// gossip, which lets it learn that it was declared failed and refute.
	GossipToTheDeadTime time.Duration
	// RetransmitMult sets how many times each broadcast is sent by each
	// node: RetransmitMult × ceil(log10(n+1)).
	RetransmitMult int
	// PushPullInterval is the time between full state exchanges with a
	// random member over TCP (anti-entropy), scaled up by memberlist above
	// 32 members. 0 disables them.
	PushPullInterval time.Duration
	// TCPTimeout bounds the connection and the exchange of a push/pull or
	// a join over TCP.
	TCPTimeout time.Duration
	// ReconnectInterval is how often this node tries to rejoin one random
	// failed member, with a probability of failed/alive so that the whole
	// cluster makes about one attempt per failed member per interval. It is
	// what merges the two sides of a healed partition: memberlist alone
	// does not. 0 disables it.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is retried, and how
	// long failed and left members stay in Members.
	ReconnectTimeout time.Duration
}

// DefaultLANConfig returns the production profile for a LAN, tuned to
// declare a crashed node failed in about 3 s in clusters of up to 10 nodes
// (about 6 s at 200) while a node may stop answering for about 2.5 s (a
// paused process, a network blip) without being declared failed.
// memberlist's LAN profile takes twice as long for both.
//
// ProbeInterval 500 ms with ProbeTimeout 250 ms: LAN round trips are well
// under 1 ms, so 250 ms is slack for a loaded node or a GC pause, and the
// rest of the interval is left to indirect and TCP probes. SuspicionMult 4
// makes the minimum suspicion 2 s (up to 10 nodes; 4.6 s at 200), reached
// when 2 other members confirm the suspicion, which they do within about a
// second in practice; SuspicionMaxTimeoutMult 6 makes a node that is cut off
// itself wait 12 s before declaring others failed. GossipInterval 100 ms
// spreads a failure to 200 nodes in about half a second. Cost: about
// 4 packets and 0.3 KB per second sent (and as much received) per node,
// plus push/pull, about 0.2 KB/s more at 200 nodes (doc.go has the
// measured figures).
func DefaultLANConfig() Config {
	return Config{
		BindAddr:                "0.0.0.0:" + strconv.Itoa(DefaultPort),
		Logger:                  slog.Default(),
		ProbeInterval:           500 * time.Millisecond,
		ProbeTimeout:            250 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		AwarenessMaxMultiplier:  8,
		GossipInterval:          100 * time.Millisecond,
		GossipNodes:             3,
		GossipToTheDeadTime:     30 * time.Second,
		RetransmitMult:          4,
		PushPullInterval:        30 * time.Second,
		TCPTimeout:              5 * time.Second,
		ReconnectInterval:       2 * time.Second,
		ReconnectTimeout:        24 * time.Hour,
	}
}

// DefaultLocalConfig returns a profile for nodes on one machine (tests,
// demos): detection in about 1.2 s, stalls of about 0.6 s tolerated. It
// relies on loopback never losing packets; a machine so loaded that a node
// cannot answer within 100 ms makes false suspicions (refuted, but noisy).
func DefaultLocalConfig() Config {
	c := DefaultLANConfig()
	c.BindAddr = "127.0.0.1:0"
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.IndirectChecks = 2
	c.GossipInterval = 50 * time.Millisecond
	c.GossipToTheDeadTime = 10 * time.Second
	c.PushPullInterval = 10 * time.Second
	c.TCPTimeout = 2 * time.Second
	c.ReconnectInterval = time.Second
	c.ReconnectTimeout = time.Hour
	return c
}

// DefaultWANConfig returns a profile for slow or lossy links (nodes in
// several data centres or clouds): detection in about 14 s, stalls of about
// 12 s tolerated, 0.07 KB/s per node. ProbeTimeout 1 s covers intercontinental round trips with
// a retransmission; SuspicionMult 5 with ProbeInterval 2 s gives a
// minimum suspicion of 10 s; four members are asked for indirect probes and
// gossip goes to four members, as losses are likelier. memberlist's WAN
// profile takes about 40 s to detect a failure.
func DefaultWANConfig() Config {
	c := DefaultLANConfig()
	c.ProbeInterval = 2 * time.Second
	c.ProbeTimeout = time.Second
	c.IndirectChecks = 4
	c.SuspicionMult = 5
	c.GossipInterval = 300 * time.Millisecond
	c.GossipNodes = 4
	c.GossipToTheDeadTime = 60 * time.Second
	c.PushPullInterval = 60 * time.Second
	c.TCPTimeout = 10 * time.Second
	c.ReconnectInterval = 10 * time.Second
	c.ReconnectTimeout = 72 * time.Hour
	return c
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if err := c.meta().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Transport == nil {
		if _, _, err := splitIPPort(c.BindAddr, true); err != nil {
			errs = append(errs, fmt.Errorf("bind address: %w", err))
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitIPPort(c.AdvertiseAddr, false); err != nil {
			errs = append(errs, fmt.Errorf("advertise address: %w", err))
		}
	}
	if len(c.Keys) == 0 && !c.InsecureNoEncryption {
		errs = append(errs, ErrNoKeys)
	}
	if err := validateKeys(c.Keys); err != nil && len(c.Keys) > 0 {
		errs = append(errs, err)
	}
	if len(c.Label) > memberlist.LabelMaxSize {
		errs = append(errs, fmt.Errorf("label of %d bytes, limit %d", len(c.Label), memberlist.LabelMaxSize))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 || c.ProbeTimeout >= c.ProbeInterval {
		errs = append(errs, errors.New("probe timeout must be positive and shorter than the probe interval"))
	}
	if c.IndirectChecks < 1 {
		errs = append(errs, errors.New("indirect checks must be at least 1 (Lifeguard needs their nacks)"))
	}
	if c.SuspicionMult < 1 || c.SuspicionMaxTimeoutMult < 1 {
		errs = append(errs, errors.New("suspicion multipliers must be at least 1"))
	}
	if c.AwarenessMaxMultiplier < 1 {
		errs = append(errs, errors.New("awareness max multiplier must be at least 1"))
	}
	if c.GossipInterval <= 0 || c.GossipNodes < 1 {
		errs = append(errs, errors.New("gossip interval must be positive and gossip nodes at least 1"))
	}
	if c.GossipToTheDeadTime < 0 || c.PushPullInterval < 0 || c.ReconnectInterval < 0 || c.ReconnectTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.RetransmitMult < 1 {
		errs = append(errs, errors.New("retransmit multiplier must be at least 1"))
	}
	if c.TCPTimeout <= 0 {
		errs = append(errs, errors.New("TCP timeout must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

func (c *Config) meta() Meta {
	return Meta{NodeID: c.NodeID, Role: c.Role, ClusterAddr: c.ClusterAddr, APIAddr: c.APIAddr}
}

// validateKeys checks key sizes and that no key is listed twice.
func validateKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: empty key list", ErrInvalidKey)
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("%w: key %d: %w", ErrInvalidKey, i, err)
		}
		if seen[string(k)] {
			return fmt.Errorf("%w: key %d is listed twice", ErrInvalidKey, i)
		}
		seen[string(k)] = true
	}
	return nil
}

// splitIPPort parses "ip:port". An empty IP means 0.0.0.0 for a bind
// address; port 0 is allowed for bind addresses only.
func splitIPPort(addr string, bind bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" && bind {
		host = "0.0.0.0"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q is not an IP address", host)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || (port == 0 && !bind) {
		return "", 0, fmt.Errorf("%q: invalid port", addr)
	}
	return host, int(port), nil
}

// memberlistConfig translates c into memberlist's configuration; the
// delegates, keyring and logger are set by New.
func (c *Config) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.Transport = c.Transport
	if c.Transport == nil {
		host, port, err := splitIPPort(c.BindAddr, true)
		if err != nil {
			return nil, err
		}
		mc.BindAddr, mc.BindPort = host, port
		mc.AdvertisePort = port
	}
	if c.AdvertiseAddr != "" {
		host, port, err := splitIPPort(c.AdvertiseAddr, false)
		if err != nil {
			return nil, err
		}
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	} else if c.Transport != nil {
		mc.AdvertisePort = 0
	}
	mc.Label = c.Label
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.IndirectChecks = c.IndirectChecks
	mc.SuspicionMult = c.SuspicionMult
	mc.SuspicionMaxTimeoutMult = c.SuspicionMaxTimeoutMult
	mc.AwarenessMaxMultiplier = c.AwarenessMaxMultiplier
	mc.GossipInterval = c.GossipInterval
	mc.GossipNodes = c.GossipNodes
	mc.GossipToTheDeadTime = c.GossipToTheDeadTime
	mc.RetransmitMult = c.RetransmitMult
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.TCPTimeout
	return mc, nil
}

// Timing is what a Config means in time for a cluster of n members,
// computed with memberlist's formulas. The figures are estimates for
// healthy members; doc.go lists measured ones.
type Timing struct {
	// SuspicionMin is how long a suspected member has to refute when
	// SuspicionMult-2 other members confirm the suspicion (always, below
	// 4 members, where no confirmation is expected): SuspicionMult ×
	// max(1, log10(n)) × ProbeInterval.
	SuspicionMin time.Duration
	// SuspicionMax is the suspicion timeout without confirmations:
	// SuspicionMaxTimeoutMult × SuspicionMin.
	SuspicionMax time.Duration
	// Spread is the time a broadcast takes to reach every member:
	// GossipInterval × ceil(log(n) / log(GossipNodes+1)).
	Spread time.Duration
	// Detection is the expected time from a crash until every member has
	// declared the crashed one failed: about a probe interval until some
	// member probes it, one for the probe to fail, SuspicionMin, Spread.
	Detection time.Duration
	// StallTolerance is how long a member can stop answering (paused
	// process, network blip) and still refute in time: SuspicionMin less
	// the time to learn of the suspicion and spread the refutation. A
	// longer stall may get it declared failed; it rejoins as soon as it
	// answers again (an EventFailed then an EventJoin).
	StallTolerance time.Duration
}

// Timing returns the timing of c for a cluster of n members.
func (c *Config) Timing(n int) Timing {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	// memberlist rounds the scale to a thousandth.
	min := time.Duration(c.SuspicionMult) * time.Duration(scale*1000) * c.ProbeInterval / 1000
	rounds := 1
	if n > 1 && c.GossipNodes > 0 {
		rounds = int(math.Ceil(math.Log(float64(n)) / math.Log(float64(c.GossipNodes+1))))
	}
	spread := time.Duration(rounds) * c.GossipInterval
	t := Timing{
		SuspicionMin: min,
		SuspicionMax: time.Duration(c.SuspicionMaxTimeoutMult) * min,
		Spread:       spread,
		Detection:    2*c.ProbeInterval + min + spread,
	}
	t.StallTolerance = min - spread - c.GossipInterval
	return t
}
