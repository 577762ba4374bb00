package raft_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// failingLogs fails every write while full is set, as a full disk does.
type failingLogs struct {
	hraft.LogStore
	full *atomic.Bool
}

var errNoSpace = errors.New("write raft.db: no space left on device")

func (f failingLogs) StoreLog(l *hraft.Log) error {
	if f.full.Load() {
		return errNoSpace
	}
	return f.LogStore.StoreLog(l)
}

func (f failingLogs) StoreLogs(logs []*hraft.Log) error {
	if f.full.Load() {
		return errNoSpace
	}
	return f.LogStore.StoreLogs(logs)
}

// TestLeaderOnFullDiskDoesNotLeadAgain fills the disk of the leader (its
// log store fails every write). It steps down, and must not win the
// elections that follow while its disk stays full, although its log is as
// up to date as any and its timeouts are the shortest (it would otherwise
// stand first and win each time, the followers granting the votes of the
// leader they still know, and stall every write). The other two elect a
// leader that acknowledges writes; once the disk has room, the node
// catches up and may lead again.
func TestLeaderOnFullDiskDoesNotLeadAgain(t *testing.T) {
	var full atomic.Bool
	c := rafttest.New(t, 3, func(c *rafttest.Cluster) {
		c.Configure = func(cfg *raft.Config) {
			if cfg.NodeID != "node3" {
				return
			}
			raft.WrapLogStore(cfg, func(s hraft.LogStore) hraft.LogStore { return failingLogs{s, &full} })
			cfg.HeartbeatTimeout = 100 * time.Millisecond
			cfg.ElectionTimeout = 100 * time.Millisecond
			cfg.LeaderLeaseTimeout = 50 * time.Millisecond
		}
	})
	node3 := c.Members[2]
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := c.Leader(5 * time.Second)
		if l == node3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node3 never became the leader")
		}
		// node3, with the shortest timeouts, stands first.
		c.Net.Freeze(l.Addr)
		time.Sleep(400 * time.Millisecond)
		c.Net.Thaw(l.Addr)
	}
	createService(t, node3.Node, "before")

	full.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The write meets the full disk, node3 steps down, and the write goes
	// to the next leader (not node3 again).
	if err := propose(ctx, node3.Node, state.Op{Type: state.OpCreateService, Service: service(model.NewID(), "during", 1)}); err != nil {
		t.Fatalf("a write while node3's disk is full: %v", err)
	}
	watch := time.Now().Add(2 * time.Second)
	for time.Now().Before(watch) {
		if node3.Node.IsLeader() {
			t.Fatal("node3 leads again with a full disk")
		}
		time.Sleep(5 * time.Millisecond)
	}
	l := c.Leader(5 * time.Second)
	if l == node3 {
		t.Fatal("node3 leads with a full disk")
	}
	createService(t, l.Node, "after")

	full.Store(false)
	c.WaitConverged(10 * time.Second)
	for _, name := range []string{"before", "during", "after"} {
		var found int
		_ = node3.Store.View(func(tx state.ReadTx) error {
			l, _ := tx.FindServices(state.ByName(name))
			found = len(l)
			return nil
		})
		if found != 1 {
			t.Errorf("node3 lacks %q after its disk had room again", name)
		}
	}
	// Healthy again, it may lead.
	for l := c.Leader(5 * time.Second); l != node3; l = c.Leader(5 * time.Second) {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatal("node3 never led again once its disk had room")
		}
		c.Net.Freeze(l.Addr)
		time.Sleep(400 * time.Millisecond)
		c.Net.Thaw(l.Addr)
	}
}
