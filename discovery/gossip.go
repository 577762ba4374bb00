package discovery

import (
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/model"
)

// Gossip is this node's membership in the cluster's gossip: it probes the
// other members, spreads what it learns, and tells the EventHandler when a
// member joins, changes, leaves or fails. All methods are safe for
// concurrent use.
type Gossip struct {
	cfg    Config
	log    *slog.Logger
	ml     *memberlist.Memberlist
	ring   *memberlist.Keyring // nil without encryption
	events *eventQueue         // nil without a handler

	mu      sync.Mutex // guards meta and members; taken under memberlist's node lock, never the reverse
	meta    Meta
	members map[string]*memberRecord

	keyMu sync.Mutex // serialises SetKeys: memberlist's Keyring is not safe for concurrent changes

	lifeMu   sync.Mutex // orders Leave, Join and Shutdown
	shutdown bool
	stop     chan struct{}
	wg       sync.WaitGroup

	refutations atomic.Uint64
}

// New starts this node's gossip: it binds the gossip port (or uses
// cfg.Transport) and starts probing, alone until Join. It returns an error
// wrapping ErrInvalidConfig for a bad cfg and ErrRemoved if cfg.IsRemoved
// reports this node as removed.
func New(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IsRemoved != nil && cfg.IsRemoved(cfg.NodeID) {
		return nil, fmt.Errorf("%w: %s", ErrRemoved, cfg.NodeID)
	}
	cfg.Keys = cloneKeys(cfg.Keys)
	mc, err := cfg.memberlistConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	g := &Gossip{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "gossip", "node", cfg.NodeID),
		meta:    cfg.meta(),
		members: make(map[string]*memberRecord),
		stop:    make(chan struct{}),
	}
	if len(cfg.Keys) > 0 {
		ring, err := memberlist.NewKeyring(nil, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		if err := applyKeys(ring, cfg.Keys); err != nil {
			return nil, err
		}
		g.ring = ring
		mc.Keyring = ring
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	} else {
		g.log.Warn("gossip is NOT encrypted: InsecureNoEncryption is for tests only")
		mc.GossipVerifyIncoming = false
		mc.GossipVerifyOutgoing = false
	}
	d := &delegate{g: g}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.Merge = d
	mc.Ping = d
	mc.Logger = log.New(&logBridge{g: g}, "", 0)
	if cfg.Events != nil {
		g.events = newEventQueue(cfg.Events)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if g.events != nil {
			g.events.close()
		}
		return nil, fmt.Errorf("discovery: start gossip: %w", err)
	}
	g.ml = ml
	if cfg.ReconnectInterval > 0 {
		g.wg.Add(1)
		go g.reconnectLoop()
	}
	g.log.Info("gossip started", "addr", g.AdvertiseAddr(), "encrypted", g.ring != nil)
	return g, nil
}

// Join contacts the given members (host:port; port 7946 if omitted) and
// exchanges the full membership with each. It returns how many it reached;
// the error is non-nil only if none was. A node whose key the others do not
// have is not reached. Joining again later (seeds changed, after a
// partition) is harmless.
func (g *Gossip) Join(addrs []string) (int, error) {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.shutdown {
		return 0, ErrShutdown
	}
	n, err := g.ml.Join(addrs)
	if err != nil {
		return n, fmt.Errorf("discovery: join %v: %w", addrs, err)
	}
	g.log.Info("joined gossip", "contacted", n, "members", g.ml.NumMembers())
	// Two gaps memberlist leaves until its next push/pull (30 s or more):
	// a member merges a joiner's state only after sending its own, so two
	// nodes joining through it at once may miss each other; and in a
	// small cluster each member sends a broadcast only a few times, so the
	// news of the join can miss a member. One more state exchange, a probe
	// interval later, with the seeds and a few random members closes both.
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		select {
		case <-g.stop:
			return
		case <-time.After(g.cfg.ProbeInterval):
		}
		targets := append(slices.Clone(addrs), g.randomAlive(joinResyncPeers)...)
		if _, err := g.ml.Join(targets); err != nil {
			g.log.Debug("state exchange after join failed", "err", err)
		}
	}()
	return n, nil
}

// joinResyncPeers is the number of random members a joiner exchanges its
// state with after the join, besides the seeds.
const joinResyncPeers = 3

// randomAlive returns the addresses of up to n random alive members other
// than this node.
func (g *Gossip) randomAlive(n int) []string {
	g.mu.Lock()
	var addrs []string
	for id, r := range g.members {
		if !r.Local && r.State == StateAlive && !g.removed(id) {
			addrs = append(addrs, r.Addr)
		}
	}
	g.mu.Unlock()
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	return addrs[:min(n, len(addrs))]
}

// Leave announces that this node leaves, so that the others report
// EventLeave rather than EventFailed, and waits up to timeout for the
// announcement to go out. The node keeps answering probes until Shutdown,
// which should follow.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.shutdown {
		return ErrShutdown
	}
	start := time.Now()
	g.mu.Lock()
	g.meta.Leaving = true
	g.mu.Unlock()
	// Spread the leaving flag first: the leave message that follows
	// supersedes it in the gossip queues, so a member that got the leave
	// first would report a failure. The broadcast reaches most members;
	// a direct message over TCP reaches the rest before the leave.
	if err := g.ml.UpdateNode(timeout / 3); err != nil {
		g.log.Warn("leaving flag not fully broadcast", "err", err)
	}
	if missed := g.notifyLeaving(start.Add(timeout * 2 / 3)); missed > 0 {
		g.log.Warn("leaving notice not delivered; those members may report a failure", "members", missed)
	}
	remaining := max(timeout-time.Since(start), time.Millisecond)
	if err := g.ml.Leave(remaining); err != nil {
		return fmt.Errorf("discovery: leave: %w", err)
	}
	g.log.Info("left gossip")
	return nil
}

// leavingMsg is the user message that tells a member the sender leaves:
// the type byte, then the sender's node ID.
const leavingMsg byte = 1

// SetRole changes the role and addresses this member advertises (after a
// promotion or demotion) and broadcasts them, waiting up to timeout for
// the broadcast to go out. The other members see an EventUpdate. It returns
// an error wrapping ErrInvalidMeta for metadata that does not encode.
func (g *Gossip) SetRole(role model.NodeRole, clusterAddr, apiAddr string, timeout time.Duration) error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.shutdown {
		return ErrShutdown
	}
	g.mu.Lock()
	m := g.meta
	m.Role, m.ClusterAddr, m.APIAddr = role, clusterAddr, apiAddr
	if _, err := m.Encode(); err != nil {
		g.mu.Unlock()
		return err
	}
	changed := m != g.meta
	g.meta = m
	g.mu.Unlock()
	if !changed {
		return nil
	}
	if err := g.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("discovery: broadcasting the new role: %w", err)
	}
	g.log.Info("gossip metadata updated", "role", role, "cluster_addr", clusterAddr)
	return nil
}

// notifyLeaving tells every alive member directly, over TCP and in
// parallel, that this node leaves, and waits for the messages to be sent
// until deadline. It returns how many were not.
func (g *Gossip) notifyLeaving(deadline time.Time) int {
	var targets []*memberlist.Node
	g.mu.Lock()
	for id, r := range g.members {
		if r.Local || r.State != StateAlive && r.State != StateSuspect {
			continue
		}
		host, port, err := net.SplitHostPort(r.Addr)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil {
			continue
		}
		targets = append(targets, &memberlist.Node{Name: id, Addr: net.ParseIP(host), Port: uint16(p)})
	}
	g.mu.Unlock()
	msg := append([]byte{leavingMsg}, g.cfg.NodeID...)
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, n := range targets {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := g.ml.SendReliable(n, msg); err != nil {
					g.log.Debug("leaving notice failed", "member", n.Name, "err", err)
					return
				}
				sent.Add(1)
			})
		}
		wg.Wait()
	}()
	// Sends still under way at the deadline finish in the background.
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
	return len(targets) - int(sent.Load())
}

// markLeaving records that member id announced its leave.
func (g *Gossip) markLeaving(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.members[id]; ok && !r.Local {
		r.Leaving = true
	}
}

// Shutdown stops gossip at once, without telling the others: they will
// declare this node failed (call Leave first for a graceful exit). It waits
// for a HandleEvent call in progress, so it must not be called from one.
// Calling it again does nothing.
func (g *Gossip) Shutdown() error {
	g.lifeMu.Lock()
	if g.shutdown {
		g.lifeMu.Unlock()
		return nil
	}
	g.shutdown = true
	close(g.stop)
	err := g.ml.Shutdown()
	// Unlocked before waiting for the handler, which may be in Join or
	// Leave: they now return ErrShutdown.
	g.lifeMu.Unlock()
	g.wg.Wait()
	if g.events != nil {
		g.events.close()
	}
	if err != nil {
		return fmt.Errorf("discovery: shutdown: %w", err)
	}
	g.log.Info("gossip stopped")
	return nil
}

func (g *Gossip) isShutdown() bool {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	return g.shutdown
}

// AdvertiseAddr returns the gossip address the others reach this node at
// (IP:port), for ManagerStatus.GossipAddr.
func (g *Gossip) AdvertiseAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.members[g.cfg.NodeID]; ok {
		return r.Addr
	}
	return ""
}

// Members returns the members this node knows, itself included, sorted by
// node ID: alive and suspect ones, and failed or left ones for
// ReconnectTimeout. Removed nodes are left out. The slice is the caller's.
func (g *Gossip) Members() []Member {
	now := time.Now()
	g.mu.Lock()
	out := make([]Member, 0, len(g.members))
	for id, r := range g.members {
		if g.expire(id, r, now) || g.removed(id) {
			continue
		}
		out = append(out, r.Member)
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// Member returns one member as Members would list it.
func (g *Gossip) Member(nodeID string) (Member, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.members[nodeID]
	if !ok || g.expire(nodeID, r, time.Now()) || g.removed(nodeID) {
		return Member{}, false
	}
	return r.Member, true
}

// expire applies the lapse of local suspicions and forgets members that
// failed or left more than ReconnectTimeout ago. It reports whether r was
// forgotten. g.mu is held.
func (g *Gossip) expire(id string, r *memberRecord, now time.Time) bool {
	switch r.State {
	case StateSuspect:
		if now.After(r.suspectUntil) {
			r.State, r.Since = StateAlive, now
		}
	case StateFailed, StateLeft:
		if g.cfg.ReconnectTimeout > 0 && now.Sub(r.Since) > g.cfg.ReconnectTimeout && !r.Local {
			delete(g.members, id)
			return true
		}
	}
	return false
}

func (g *Gossip) removed(id string) bool {
	return g.cfg.IsRemoved != nil && id != g.cfg.NodeID && g.cfg.IsRemoved(id)
}

// HealthScore is memberlist's local health score (Health.Score) alone,
// cheap enough to call on every failure check.
func (g *Gossip) HealthScore() int { return g.ml.GetHealthScore() }

// Health is this node's view of the gossip, for `node ls` and /info.
type Health struct {
	// Score is memberlist's local health score (Lifeguard): 0 is healthy.
	// It rises when this node's probes fail without the nacks of the
	// indirect probers, which means this node, not its peers, has trouble
	// (CPU starvation, a broken network), up to AwarenessMaxMultiplier-1;
	// the node then probes Score+1 times slower so as not to accuse
	// healthy peers.
	Score int
	// Members counts the members of Members by state, this node included.
	Alive, Suspect, Failed, Left int
	// Refutations counts the times this node had to refute a suspicion
	// or a death of itself: others found it unresponsive.
	Refutations uint64
	// Encrypted tells whether gossip is encrypted; Keys is the size of the
	// keyring and PrimaryKeyID the first 8 hex digits of the SHA-256 of
	// the primary key, to compare keyrings across nodes without showing
	// keys.
	Encrypted    bool
	Keys         int
	PrimaryKeyID string
}

// Health returns this node's view of the gossip.
func (g *Gossip) Health() Health {
	h := Health{Score: g.ml.GetHealthScore(), Refutations: g.refutations.Load()}
	for _, m := range g.Members() {
		switch m.State {
		case StateAlive:
			h.Alive++
		case StateSuspect:
			h.Suspect++
		case StateFailed:
			h.Failed++
		case StateLeft:
			h.Left++
		}
	}
	if g.ring != nil {
		g.keyMu.Lock()
		h.Encrypted = true
		h.Keys = len(g.ring.GetKeys())
		h.PrimaryKeyID = KeyID(g.ring.GetPrimaryKey())
		g.keyMu.Unlock()
	}
	return h
}

// reconnectLoop tries to rejoin failed members, which is what merges the
// sides of a healed partition. Each tick it picks one failed member with
// probability failed/alive (as Serf does), so a large cluster with one dead
// node makes about one attempt per interval in all, not one per node.
func (g *Gossip) reconnectLoop() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		var failed []string
		alive := 0
		now := time.Now()
		g.mu.Lock()
		for id, r := range g.members {
			if r.Local || g.expire(id, r, now) || g.removed(id) {
				continue
			}
			switch r.State {
			case StateFailed:
				failed = append(failed, r.Addr)
			case StateAlive, StateSuspect:
				alive++
			}
		}
		g.mu.Unlock()
		if len(failed) == 0 || rand.Float64() > float64(len(failed))/float64(max(alive, 1)) {
			continue
		}
		addr := failed[rand.IntN(len(failed))]
		if _, err := g.ml.Join([]string{addr}); err != nil {
			g.log.Debug("reconnect failed", "addr", addr, "err", err)
		} else {
			g.log.Info("reconnected to a failed member", "addr", addr)
		}
	}
}
