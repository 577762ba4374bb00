package manager

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// keepDEKWrapped also tells the node's gossip (Config.OnGossip) the keys
// and the other managers' gossip addresses as the store changes.
//
// keepDEKWrapped keeps this manager's data key file in line with the
// cluster's autolock setting: wrapped with the cluster's unlock key while
// autolock is on (so a restart needs `manager unlock`), in clear when it is
// off. It runs on every manager, for its own key, whenever the cluster
// object changes: enabling autolock, rotating the unlock key (`docker swarm
// unlock-key --rotate`) and disabling it all rewrap the same data key, so
// nothing on disk is re-encrypted.
//
// A manager that is down while the key rotates still needs the previous
// key to unlock; it rewraps with the new key once it runs again.
func (m *Manager) keepDEKWrapped(ctx context.Context) {
	interesting := func(e state.Event) bool {
		return e.Object.Kind() == model.KindCluster || e.Object.Kind() == model.KindNode
	}
	w := m.store.Watch(state.WithFilter(interesting))
	defer func() { w.Close() }()
	applied := "\x00" // nothing applied yet
	var gossipKeys [][]byte
	var gossipPeers []string
	for {
		var c *model.Cluster
		var peers []string
		_ = m.store.View(func(tx state.ReadTx) error {
			c = tx.Cluster()
			nodes, _ := tx.FindNodes(state.ByRole(model.RoleManager))
			for _, n := range nodes {
				if n.ID != m.st.NodeID && n.ManagerStatus != nil && n.ManagerStatus.GossipAddr != "" {
					peers = append(peers, n.ManagerStatus.GossipAddr)
				}
			}
			return nil
		})
		if c != nil && m.cfg.OnGossip != nil {
			keys := make([][]byte, 0, len(c.GossipKeys))
			for _, k := range c.GossipKeys {
				keys = append(keys, k.Key)
			}
			slices.Sort(peers)
			if !slices.EqualFunc(keys, gossipKeys, bytes.Equal) || !slices.Equal(peers, gossipPeers) {
				gossipKeys, gossipPeers = keys, peers
				m.cfg.OnGossip(keys, peers)
			}
		}
		if c != nil {
			want := ""
			if c.Spec.Encryption.AutoLockManagers {
				want = c.UnlockKey
			}
			if want != applied {
				if err := m.wrapDEK(want); err != nil {
					m.log.Error("rewrapping the Raft data key", "err", err)
				} else {
					applied = want
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.Ready():
			if _, err := w.Drain(); err != nil {
				w.Close()
				w = m.store.Watch(state.WithFilter(interesting))
			}
		}
	}
}

// wrapDEK saves the data key wrapped with unlockKey, or in clear if it is
// empty.
func (m *Manager) wrapDEK(unlockKey string) error {
	var key *encryption.UnlockKey
	if unlockKey != "" {
		var err error
		if key, err = encryption.ParseUnlockKey(unlockKey); err != nil {
			return fmt.Errorf("the cluster's unlock key is invalid: %w", err)
		}
	}
	path := filepath.Join(m.cfg.DataDir, DEKFile)
	if err := encryption.SaveDEK(path, m.cfg.Raft.DataKey, key); err != nil {
		return err
	}
	if key != nil {
		m.log.Info("autolock: the Raft data key is wrapped with the cluster's unlock key")
	} else {
		m.log.Info("autolock off: the Raft data key is stored in clear")
	}
	return nil
}
