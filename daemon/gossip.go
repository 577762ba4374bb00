package daemon

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/discovery"
	"github.com/shoal-dev/shoal/model"
)

// gossipRunner runs the node's gossip member. It starts once the node has
// the cluster's gossip keys, which come only over an authenticated channel
// (the agent's session, or a manager's own store), and joins through the
// managers' gossip addresses. Gossip is an addition: a node whose gossip
// cannot start (its port is taken) runs on, with heartbeats alone.
type gossipRunner struct {
	d *Daemon

	mu      sync.Mutex
	g       *discovery.Gossip
	keys    [][]byte
	peers   []string
	joined  bool
	failed  bool
	joining bool
	stopped bool
	probe   *hostProbe // made on first use
}

// update takes new keys and/or peers (nil leaves them as they are).
func (r *gossipRunner) update(keys [][]byte, peers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.failed {
		return
	}
	if keys != nil {
		changed := !slices.EqualFunc(keys, r.keys, slices.Equal)
		r.keys = keys
		if r.g != nil && changed {
			if err := r.g.SetKeys(keys); err != nil {
				r.d.log.Warn("gossip: setting the keys", "err", err)
			}
		}
	}
	if peers != nil {
		r.peers = peers
	}
	if r.g == nil && len(r.keys) > 0 {
		r.start()
	}
	if r.g != nil && !r.joined && !r.joining && len(r.peers) > 0 {
		r.joining = true
		go r.join()
	}
}

// start creates the gossip member. Called with r.mu held.
func (r *gossipRunner) start() {
	d := r.d
	s := d.cfg.Settings
	cfg := discovery.DefaultLANConfig()
	cfg.NodeID = d.st.NodeID
	cfg.Role, cfg.ClusterAddr, cfg.APIAddr = d.gossipMeta()
	cfg.BindAddr = s.GossipAddr
	cfg.AdvertiseAddr = s.GossipAddr
	cfg.Keys = r.keys
	cfg.Label = d.st.ClusterID
	cfg.IsRemoved = d.isRemoved
	cfg.Events = discovery.EventHandlerFunc(d.onGossipEvent)
	cfg.Logger = d.cfg.Logger // gossip adds the node ID
	g, err := discovery.New(cfg)
	if err != nil {
		r.failed = true
		d.log.Error("gossip could not start; failures are detected by heartbeats alone", "addr", s.GossipAddr, "err", err)
		return
	}
	r.g = g
}

// gossipMeta is the role and addresses the node advertises in gossip.
func (d *Daemon) gossipMeta() (role model.NodeRole, clusterAddr, apiAddr string) {
	role = d.Role()
	if role == model.RoleManager {
		s := d.cfg.Settings
		return role, s.AdvertiseAddr, s.APIAddr
	}
	return role, "", ""
}

// roleChanged advertises the node's current role (after a promotion or a
// demotion), so that gossip's view of the managers stays true.
func (r *gossipRunner) roleChanged() {
	r.mu.Lock()
	g := r.g
	r.mu.Unlock()
	if g == nil {
		return // start reads the role when gossip starts
	}
	role, clusterAddr, apiAddr := r.d.gossipMeta()
	if err := g.SetRole(role, clusterAddr, apiAddr, time.Second); err != nil && !errors.Is(err, discovery.ErrShutdown) {
		r.d.log.Warn("gossip: advertising the new role", "role", role, "err", err)
	}
}

func (r *gossipRunner) join() {
	backoff := 200 * time.Millisecond
	for {
		r.mu.Lock()
		g, peers, stopped := r.g, slices.Clone(r.peers), r.stopped
		r.mu.Unlock()
		if stopped || g == nil {
			return
		}
		self := g.AdvertiseAddr()
		peers = slices.DeleteFunc(peers, func(p string) bool { return p == self || p == "" })
		if len(peers) == 0 {
			// Only this node is known: it is the first member.
			r.mu.Lock()
			r.joined, r.joining = true, false
			r.mu.Unlock()
			return
		}
		n, err := g.Join(peers)
		if err == nil && n > 0 {
			r.mu.Lock()
			r.joined, r.joining = true, false
			r.mu.Unlock()
			return
		}
		r.d.log.Debug("joining gossip failed; retrying", "err", err, "in", backoff)
		time.Sleep(backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
}

// alive tells whether gossip sees the node alive or only suspected.
func (r *gossipRunner) alive(nodeID string) bool {
	r.mu.Lock()
	g := r.g
	r.mu.Unlock()
	if g == nil {
		return false
	}
	m, ok := g.Member(nodeID)
	return ok && (m.State == discovery.StateAlive || m.State == discovery.StateSuspect)
}

// suspected tells whether the node looks cut off: gossip declared it
// failed, or this node's own gossip probe of it failed and its host does
// not even complete a TCP handshake (see hostProbe), while this node's
// gossip is healthy (Lifeguard's local health score 0: its own probes are
// answered, so a failed probe says something about the other node, not
// this one). It never blocks.
func (r *gossipRunner) suspected(nodeID string) bool {
	r.mu.Lock()
	g, probe := r.g, r.probe
	if probe == nil {
		probe = newHostProbe()
		r.probe = probe
	}
	r.mu.Unlock()
	if g == nil || g.HealthScore() > 0 {
		return false
	}
	m, ok := g.Member(nodeID)
	if !ok {
		probe.forget(nodeID)
		return false
	}
	if m.State == discovery.StateFailed {
		return true
	}
	// The dispatcher asks from the node's first missed heartbeat on: the
	// host is probed from then, so that its answer is there when gossip's
	// suspicion comes.
	unreachable := probe.unreachable(nodeID, m.Addr)
	return m.State == discovery.StateSuspect && unreachable
}

func (r *gossipRunner) stop() {
	r.mu.Lock()
	g := r.g
	r.stopped, r.g = true, nil
	r.mu.Unlock()
	if g != nil {
		_ = g.Leave(2 * time.Second)
		_ = g.Shutdown()
	}
}

// onGossipEvent passes failures to the manager components, whose leader
// confirms them with the heartbeat path before marking the node down.
func (d *Daemon) onGossipEvent(e discovery.Event) {
	if e.Type != discovery.EventFailed {
		return
	}
	d.mu.Lock()
	m := d.mgr
	d.mu.Unlock()
	if m != nil {
		m.ReportNodeFailed(e.Member.NodeID)
	}
}

// isRemoved consults the manager's store when this node is a manager;
// workers do not know the list and rely on the managers refusing removed
// nodes and on the key rotation that follows a removal.
func (d *Daemon) isRemoved(nodeID string) bool {
	d.mu.Lock()
	m := d.mgr
	d.mu.Unlock()
	return m != nil && m.IsRemoved(nodeID)
}
