package manager

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/state"
)

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
	isCluster := func(e state.Event) bool { return e.Object.Kind() == state.KindCluster }
	w := m.store.Watch(state.WithFilter(isCluster))
	defer func() { w.Close() }()
	applied := "\x00" // nothing applied yet
	for {
		var c *state.Cluster
		_ = m.store.View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
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
				w = m.store.Watch(state.WithFilter(isCluster))
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
