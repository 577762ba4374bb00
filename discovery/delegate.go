package discovery

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. Those of EventDelegate and
// AliveDelegate run under memberlist's node lock: they only touch g.mu and
// the event queue.
type delegate struct{ g *Gossip }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
	_ memberlist.MergeDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// NodeMeta returns the local metadata; it was validated by New.
func (d *delegate) NodeMeta(limit int) []byte {
	d.g.mu.Lock()
	m := d.g.meta
	d.g.mu.Unlock()
	b, err := m.Encode()
	if err != nil || len(b) > limit {
		d.g.log.Error("local metadata does not encode", "err", err, "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg receives the leaving notices of other members.
func (d *delegate) NotifyMsg(b []byte) {
	if len(b) > 1 && b[0] == leavingMsg {
		d.g.markLeaving(string(b[1:]))
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// NotifyAlive refuses removed nodes and nodes with invalid metadata, or
// metadata naming another node.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	if peer.Name == d.g.cfg.NodeID {
		return nil
	}
	if d.g.removed(peer.Name) {
		return ErrRemoved
	}
	m, err := DecodeMeta(peer.Meta)
	if err != nil {
		return err
	}
	if m.NodeID != peer.Name {
		return fmt.Errorf("%w: node %s carries the metadata of %s", ErrInvalidMeta, peer.Name, m.NodeID)
	}
	return nil
}

// NotifyMerge refuses a join whose alive members are all removed nodes: a
// removed node trying to join. A merge that merely mentions removed nodes
// goes ahead (refusing it would keep good nodes out while a removed node
// lingers in some member's list); NotifyAlive drops those entries.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	alive, removed := 0, 0
	for _, p := range peers {
		if p.State != memberlist.StateAlive || p.Name == d.g.cfg.NodeID {
			continue
		}
		alive++
		if d.g.removed(p.Name) {
			removed++
		}
	}
	if alive > 0 && removed == alive {
		d.g.log.Warn("refused a join from removed nodes", "nodes", alive)
		return ErrRemoved
	}
	return nil
}

func (d *delegate) NotifyJoin(n *memberlist.Node) { d.g.update(n, EventJoin) }

func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.g.update(n, EventUpdate) }

func (d *delegate) NotifyLeave(n *memberlist.Node) { d.g.update(n, EventLeave) }

func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete records the round trip time of a direct probe; the
// member answered, so a local suspicion of it is over.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	g := d.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.members[other.Name]; ok {
		r.RTT = rtt
		if r.State == StateSuspect {
			r.State, r.Since = StateAlive, time.Now()
		}
	}
}

// update records a memberlist notification and queues its event. t is
// EventLeave for both leaves and failures; the leaving flag of the
// member's metadata tells them apart.
func (g *Gossip) update(n *memberlist.Node, t EventType) {
	id := n.Name
	local := id == g.cfg.NodeID
	if !local && g.removed(id) {
		return
	}
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		// Rare: NotifyAlive refuses invalid metadata. Keep what is
		// known of the member.
		meta = Meta{NodeID: id}
	}
	now := time.Now()
	g.mu.Lock()
	r, ok := g.members[id]
	if !ok {
		r = &memberRecord{Member: Member{Local: local}}
		g.members[id] = r
	}
	// A leaving notice may have come before the leaving flag.
	leaving := r.Leaving || meta.Leaving
	if err == nil || r.NodeID == "" {
		r.Meta = meta
	}
	r.Addr = formatAddr(n.Addr, n.Port)
	prev := r.State
	switch t {
	case EventJoin, EventUpdate:
		r.State = StateAlive
	case EventLeave:
		if leaving {
			r.Leaving = true
			r.State = StateLeft
		} else {
			r.State = StateFailed
			t = EventFailed
		}
	}
	if r.State != prev {
		r.Since = now
	}
	ev := Event{Type: t, Member: r.Member}
	g.mu.Unlock()

	if local {
		return
	}
	attrs := []any{"member", id, "addr", ev.Member.Addr, "role", ev.Member.Role}
	switch t {
	case EventFailed:
		g.log.Warn("member failed", attrs...)
	case EventUpdate:
		g.log.Debug("member updated", append(attrs, "leaving", ev.Member.Leaving)...)
	default:
		g.log.Info("member "+t.String(), attrs...)
	}
	if g.events != nil {
		g.events.push(ev)
	}
}

// suspect records that this node's probe of id failed.
func (g *Gossip) suspect(id string) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.members[id]
	if !ok || r.State != StateAlive {
		return
	}
	t := g.cfg.Timing(len(g.members))
	r.State, r.Since = StateSuspect, now
	r.suspectUntil = now.Add(t.SuspicionMax + g.cfg.ProbeInterval)
}
