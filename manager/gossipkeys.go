package manager

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-dev/shoal/discovery"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// rotateGossipKeys runs on the leader: it creates the cluster's first
// gossip key, rotates the key every Gossip.KeyRotationInterval (12 h by
// default) in three steps a propagation delay apart (add, promote, retire)
// so that no node is ever cut off, and rotates early after a node removal,
// so that the removed node's key stops working.
func (m *Manager) rotateGossipKeys(ctx context.Context) {
	r := discovery.NewKeyRotator()
	interesting := func(e state.Event) bool {
		return e.Object.Kind() == model.KindCluster ||
			(e.Object.Kind() == model.KindNode && e.Action == state.ActionDelete)
	}
	w := m.store.Watch(state.WithFilter(interesting))
	defer func() { w.Close() }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.Ready():
			batches, err := w.Drain()
			if err != nil {
				w.Close()
				w = m.store.Watch(state.WithFilter(interesting))
			}
			for _, b := range batches {
				for _, e := range b.Events {
					if e.Object.Kind() == model.KindNode {
						r.RotateAfter(time.Now())
					}
				}
			}
		}
		next, err := m.gossipKeyStep(ctx, r)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("gossip key rotation", "err", err)
			next = time.Now().Add(5 * time.Second)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(time.Until(next), 100*time.Millisecond))
	}
}

// gossipKeyStep makes one rotation step if one is due and returns when to
// look again.
func (m *Manager) gossipKeyStep(ctx context.Context, r *discovery.KeyRotator) (time.Time, error) {
	var c *model.Cluster
	_ = m.store.View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
	if c == nil {
		return time.Now().Add(time.Second), nil
	}
	rot, err := r.Next(c)
	if err != nil || rot.Keys == nil {
		return rot.NextCheck, err
	}
	upd := c.Copy()
	upd.GossipKeys = rot.Keys
	err = m.propose(ctx, state.Op{Type: state.OpUpdateCluster, Cluster: upd, Version: c.Version.Index})
	if errors.Is(err, state.ErrSequence) {
		return time.Now(), nil
	}
	if err != nil {
		return time.Time{}, err
	}
	m.log.Info("gossip keys rotated", "step", rot.Step, "keys", len(rot.Keys))
	return rot.NextCheck, nil
}
