package raft_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

const boltPageSize = 4096 // bbolt's page size on this platform (the OS page size)

// overwrite writes n random bytes at off in path.
func overwrite(t *testing.T, path string, off, n int64, seed int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// newestSnapshot returns the newest snapshot directory in dir.
func newestSnapshot(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil || len(ents) == 0 {
		t.Fatalf("no snapshot in %s: %v", dir, err)
	}
	return filepath.Join(dir, "snapshots", ents[len(ents)-1].Name())
}

// TestDamagedStateIsRefused is issue 21's finding 4: a node whose Raft
// state on disk is damaged must refuse to start with an error that says
// what is damaged; never panic, never come up empty. Each case runs a
// one-manager cluster on real files (a snapshot, then more writes, a
// short trailing log so that the snapshot is needed), stops it, damages
// its data dir, and starts it again.
func TestDamagedStateIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		// want is part of the error (the damaged file and what is wrong);
		// empty for the undamaged control, which must start with its data.
		want string
	}{
		{"undamaged", func(*testing.T, string) {}, ""},
		{"truncated raft.db", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "raft.db")
			if err := os.Truncate(p, fileSize(t, p)/2); err != nil {
				t.Fatal(err)
			}
		}, "raft.db: truncated"},
		{"random bytes over every page after the meta pages", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "raft.db")
			overwrite(t, p, 2*boltPageSize, fileSize(t, p)-2*boltPageSize, 1)
		}, "raft.db"},
		{"random bytes over the last used pages", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "raft.db")
			overwrite(t, p, 4*boltPageSize, 8*boltPageSize, 2)
		}, "raft.db"},
		{"zero-length raft.db", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "raft.db"), 0); err != nil {
				t.Fatal(err)
			}
		}, "raft.db: empty (0 bytes), but this node had applied the log up to index"},
		{"missing raft.db, applied index recorded", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "raft.db")); err != nil {
				t.Fatal(err)
			}
		}, "raft.db: missing, but this node had applied the log up to index"},
		{"log shorter than the applied index recorded", func(t *testing.T, dir string) {
			// As if the last entries were lost: the marker is ahead.
			p := filepath.Join(dir, "applied.json")
			if err := os.WriteFile(p, []byte(`{"index":100000,"term":1}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "but this node had applied the log up to index 100000"},
		{"snapshot state fails its checksum", func(t *testing.T, dir string) {
			p := filepath.Join(newestSnapshot(t, dir), "state.bin")
			overwrite(t, p, fileSize(t, p)/2, 16, 3)
		}, "the newest snapshot does not read back"},
		{"snapshot metadata unreadable", func(t *testing.T, dir string) {
			p := filepath.Join(newestSnapshot(t, dir), "meta.json")
			if err := os.WriteFile(p, []byte("{garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "meta.json: unreadable"},
		{"snapshot dir gone, log compacted", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "snapshots")); err != nil {
				t.Fatal(err)
			}
		}, "entries 1 to"},
	} {
		for _, encrypted := range []bool{false, true} {
			name := tc.name
			if encrypted {
				name += ", encrypted"
			}
			t.Run(name, func(t *testing.T) {
				var key []byte
				if encrypted {
					key = encryption.GenerateDEK()
				}
				configure := func(cfg *raft.Config) {
					cfg.DataKey = key
					cfg.TrailingLogs = 10
					cfg.SnapshotThreshold = 1 << 20 // only the snapshot below
				}
				c := rafttest.New(t, 1, func(c *rafttest.Cluster) { c.Configure = configure })
				m := c.Members[0]
				leader := c.Leader(5 * time.Second)
				var ids []string
				for i := range 100 {
					ids = append(ids, createService(t, leader.Node, fmt.Sprintf("before-snapshot-%d", i)))
				}
				if err := leader.Node.Snapshot(); err != nil {
					t.Fatal(err)
				}
				for i := range 100 {
					ids = append(ids, createService(t, leader.Node, fmt.Sprintf("after-snapshot-%d", i)))
				}
				c.Stop(m)
				tc.damage(t, m.Dir)

				cfg := rafttest.FastConfig()
				cfg.NodeID, cfg.Addr, cfg.DataDir = m.ID, m.Addr, m.Dir
				configure(&cfg)
				cfg.Logger = testutil.Logger(t, slog.LevelWarn)
				_, trans := hraft.NewInmemTransport(hraft.ServerAddress(m.Addr))
				store := state.NewStore()
				n, err := raft.New(cfg, store, trans, c.Net.Forwarder(m.Addr))
				if tc.want == "" {
					if err != nil {
						t.Fatalf("the undamaged node did not start: %v", err)
					}
					defer n.Shutdown()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := n.ReadBarrier(ctx); err != nil {
						t.Fatal(err)
					}
					var got int
					_ = store.View(func(tx state.ReadTx) error {
						for _, id := range ids {
							if tx.GetService(id) != nil {
								got++
							}
						}
						return nil
					})
					if got != len(ids) {
						t.Fatalf("restarted with %d of %d services", got, len(ids))
					}
					return
				}
				if err == nil {
					var services int
					_ = store.View(func(tx state.ReadTx) error {
						s, _ := tx.FindServices(state.All)
						services = len(s)
						return nil
					})
					n.Shutdown()
					t.Fatalf("a damaged node started (with %d of %d services)", services, len(ids))
				}
				if !errors.Is(err, raft.ErrDamaged) {
					t.Fatalf("want a damaged state error, got: %v", err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q does not say %q", err, tc.want)
				}
				t.Logf("refused: %v", err)
			})
		}
	}
}
