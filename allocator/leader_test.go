package allocator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft/rafttest"
)

// TestNoDoubleAllocationAcrossLeaderChangesRestartsAndSnapshots runs an
// allocator on the leader of a real three-manager Raft cluster, and
// between rounds of networks, services and tasks crashes the leader,
// restarts managers and restores them from snapshots. After every round,
// every manager's store must hold each address, VXLAN ID, subnet and port
// once.
func TestNoDoubleAllocationAcrossLeaderChangesRestartsAndSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("a real Raft cluster")
	}
	c := rafttest.New(t, 3, func(c *rafttest.Cluster) {
		c.OnStart = func(m *rafttest.Member) {
			cfg := testConfig(t)
			cfg.Logger = cfg.Logger.With("member", m.ID)
			a := New(m.Store, m.Node, cfg)
			m.Node.OnLeader(func(ctx context.Context) {
				if err := a.Run(ctx); err != nil {
					t.Errorf("%s: Run: %v", m.ID, err)
				}
			})
		}
	})
	leader := c.Leader(10 * time.Second)
	propose := func(ops ...state.Op) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			l := c.Leader(10 * time.Second)
			res, err := l.Node.Propose(context.Background(), state.NewCommand(ops...))
			if err == nil {
				err = res.Err()
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) || errors.Is(err, state.ErrExists) {
				t.Fatalf("write %v: %v", ops[0].Type, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	spec := model.DefaultClusterSpec()
	propose(
		state.Op{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: "cluster", Spec: spec}},
		state.Op{Type: state.OpCreateNetwork, Network: ingressNetwork()},
		state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: "worker1"}},
	)
	_ = leader

	var live []string
	allAllocated := func(m *rafttest.Member) error {
		var err error
		_ = m.Store.View(func(tx state.ReadTx) error {
			for _, id := range live {
				task := tx.GetTask(id)
				if task == nil || len(task.Networks) == 0 {
					err = fmt.Errorf("task %s not allocated", id)
					return nil
				}
			}
			return nil
		})
		return err
	}
	check := func(round int) {
		t.Helper()
		l := c.Leader(10 * time.Second)
		for deadline := time.Now().Add(waitTimeout); ; time.Sleep(5 * time.Millisecond) {
			err := allAllocated(l)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		c.WaitConverged(10 * time.Second)
		for _, m := range c.Members {
			if m.Node == nil {
				continue
			}
			_ = m.Store.View(func(tx state.ReadTx) error {
				n := checkNoDoubleAllocation(t, tx)
				t.Logf("round %d: %s holds %d addresses, none twice", round, m.ID, n)
				return nil
			})
		}
	}

	for round := range 6 {
		net := fmt.Sprintf("net%d", round)
		svc := fmt.Sprintf("svc%d", round)
		propose(state.Op{Type: state.OpCreateNetwork, Network: network(net, net, "")})
		propose(state.Op{Type: state.OpCreateService, Service: service(svc, svc, 8, []string{net, "net0"}, ingressPort(uint32(80+round), 0))})
		var sv uint64
		_ = c.Leader(10 * time.Second).Store.View(func(tx state.ReadTx) error { sv = tx.GetService(svc).SpecVersion.Index; return nil })
		var nts []state.NewTask
		for i := range 8 {
			id := fmt.Sprintf("%s-t%d", svc, i)
			nts = append(nts, state.NewTask{ID: id, Slot: uint64(i + 1)})
			live = append(live, id)
		}
		propose(state.Op{Type: state.OpCreateTasks, ID: svc, SpecVersion: sv, NewTasks: nts})
		if round%2 == 1 {
			// The leader crashes while its allocator is at work.
			l := c.Leader(10 * time.Second)
			c.Stop(l)
			c.Leader(10 * time.Second)
			c.Start(l)
		}
		// Some tasks run and stop, freeing their addresses.
		if round > 0 {
			prev := fmt.Sprintf("svc%d", round-1)
			var stop []model.TaskStatusUpdate
			var assign []state.Assignment
			for i := range 4 {
				id := fmt.Sprintf("%s-t%d", prev, i)
				assign = append(assign, state.Assignment{TaskID: id, NodeID: "worker1"})
				stop = append(stop, model.TaskStatusUpdate{TaskID: id, Status: model.TaskStatus{State: model.TaskStateFailed}})
			}
			propose(state.Op{Type: state.OpAssignTasks, Assignments: assign})
			propose(state.Op{Type: state.OpTaskStatus, ID: "worker1", TaskStatuses: stop})
			kept := live[:0]
			for _, id := range live {
				stopped := false
				for _, s := range stop {
					stopped = stopped || s.TaskID == id
				}
				if !stopped {
					kept = append(kept, id)
				}
			}
			live = kept
		}
		check(round)

		l := c.Leader(10 * time.Second)
		switch round % 3 {
		case 0:
			// The leader crashes; a new leader takes over, then the old
			// one comes back as a follower.
			c.Stop(l)
			c.Leader(10 * time.Second)
			c.Start(l)
		case 1:
			// Every manager takes a snapshot and restarts from it.
			for _, m := range c.Members {
				if err := m.Node.Snapshot(); err != nil {
					t.Fatalf("snapshot of %s: %v", m.ID, err)
				}
			}
			for _, m := range c.Members {
				c.Stop(m)
				c.Start(m)
			}
		case 2:
			// A follower restarts and the leader steps away by crashing.
			f := c.Followers()[0]
			c.Stop(f)
			c.Start(f)
			c.Stop(l)
			c.Leader(10 * time.Second)
			c.Start(l)
		}
	}
	check(6)
}
