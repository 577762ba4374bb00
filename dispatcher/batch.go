package dispatcher

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// batcher collects the node statuses the dispatcher decides and the task
// statuses agents report, and writes them in one Raft command per
// StatusBatchInterval: an OpNodeStatus for all nodes and one OpTaskStatus
// per node. A newer status of a task supersedes an older one not yet
// written; statuses the store already has, or that would move a task
// backwards, are dropped before the write.
type batcher struct {
	t *leadership

	mu      sync.Mutex
	nodes   map[string]state.NodeStatusUpdate
	tasks   map[string]map[string]model.TaskStatus // node -> task -> status
	waiters []chan error
	kick    chan struct{}
}

func newBatcher(t *leadership) *batcher {
	return &batcher{
		t:     t,
		nodes: map[string]state.NodeStatusUpdate{},
		tasks: map[string]map[string]model.TaskStatus{},
		kick:  make(chan struct{}, 1),
	}
}

func (b *batcher) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// addNode queues a node status; a description queued before is kept
// unless u brings a new one.
func (b *batcher) addNode(u state.NodeStatusUpdate) {
	b.mu.Lock()
	if prev, ok := b.nodes[u.ID]; ok && u.Description == nil {
		u.Description = prev.Description
	}
	b.nodes[u.ID] = u
	b.mu.Unlock()
	b.signal()
}

// addTasks queues a node's task reports. The returned channel receives
// the outcome of the write that carries them.
func (b *batcher) addTasks(nodeID string, ups []model.TaskStatusUpdate) <-chan error {
	done := make(chan error, 1)
	b.mu.Lock()
	m := b.tasks[nodeID]
	if m == nil {
		m = map[string]model.TaskStatus{}
		b.tasks[nodeID] = m
	}
	for _, u := range ups {
		if prev, ok := m[u.TaskID]; ok && u.Status.State < prev.State {
			continue // superseded by a report already queued
		}
		m[u.TaskID] = u.Status
	}
	b.waiters = append(b.waiters, done)
	b.mu.Unlock()
	b.signal()
	return done
}

// run writes batches until ctx ends; reports still queued then fail.
func (b *batcher) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			b.failAll(ErrNotLeader)
			return
		case <-b.kick:
		}
		timer.Reset(b.t.cfg.StatusBatchInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			b.failAll(ErrNotLeader)
			return
		case <-timer.C:
		}
		b.flush(ctx)
	}
}

func (b *batcher) failAll(err error) {
	b.mu.Lock()
	waiters := b.waiters
	b.waiters = nil
	b.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
}

// flush writes everything queued.
func (b *batcher) flush(ctx context.Context) {
	b.mu.Lock()
	nodes, tasks, waiters := b.nodes, b.tasks, b.waiters
	b.nodes, b.tasks, b.waiters = map[string]state.NodeStatusUpdate{}, map[string]map[string]model.TaskStatus{}, nil
	b.mu.Unlock()

	cmds := b.commands(nodes, tasks)
	var err error
	for _, cmd := range cmds {
		pctx, cancel := context.WithTimeout(ctx, b.t.cfg.ProposeTimeout)
		var res state.Results
		res, err = b.t.d.proposer.Propose(pctx, cmd)
		cancel()
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		b.t.log.Warn("writing statuses failed", "err", err, "nodes", len(nodes), "task_nodes", len(tasks))
		// Node statuses are the dispatcher's own: write them with the
		// next batch unless a newer one is queued. Agents retry their
		// reports.
		b.mu.Lock()
		requeued := false
		for id, u := range nodes {
			if _, ok := b.nodes[id]; !ok {
				b.nodes[id] = u
				requeued = true
			}
		}
		b.mu.Unlock()
		if requeued && ctx.Err() == nil {
			b.signal()
		}
	}
	for _, w := range waiters {
		w <- err
	}
}

// commands turns a batch into Raft commands of at most MaxBatch task
// statuses each, dropping reports the store makes useless.
func (b *batcher) commands(nodes map[string]state.NodeStatusUpdate, tasks map[string]map[string]model.TaskStatus) []*state.Command {
	type nodeOps struct {
		node string
		ups  []model.TaskStatusUpdate
	}
	var perNode []nodeOps
	_ = b.t.d.store.View(func(tx state.ReadTx) error {
		for node, m := range tasks {
			var ups []model.TaskStatusUpdate
			for id, st := range m {
				cur := tx.GetTask(id)
				if cur == nil || cur.NodeID != node || st.State < cur.Status.State ||
					(st.State == cur.Status.State && statusEqual(&cur.Status, &st)) {
					continue
				}
				ups = append(ups, model.TaskStatusUpdate{TaskID: id, Status: st})
			}
			if len(ups) > 0 {
				slices.SortFunc(ups, func(a, b model.TaskStatusUpdate) int { return strings.Compare(a.TaskID, b.TaskID) })
				perNode = append(perNode, nodeOps{node, ups})
			}
		}
		return nil
	})
	slices.SortFunc(perNode, func(a, b nodeOps) int { return strings.Compare(a.node, b.node) })

	var cmds []*state.Command
	cmd := state.NewCommand()
	if len(nodes) > 0 {
		op := state.Op{Type: state.OpNodeStatus}
		for _, u := range nodes {
			op.NodeStatuses = append(op.NodeStatuses, u)
		}
		slices.SortFunc(op.NodeStatuses, func(a, b state.NodeStatusUpdate) int { return strings.Compare(a.ID, b.ID) })
		cmd.Ops = append(cmd.Ops, op)
	}
	size := 0
	for _, n := range perNode {
		for len(n.ups) > 0 {
			room := b.t.cfg.MaxBatch - size
			if room <= 0 {
				cmds = append(cmds, cmd)
				cmd, size, room = state.NewCommand(), 0, b.t.cfg.MaxBatch
			}
			k := min(room, len(n.ups))
			cmd.Ops = append(cmd.Ops, state.Op{Type: state.OpTaskStatus, ID: n.node, TaskStatuses: n.ups[:k]})
			n.ups = n.ups[k:]
			size += k
		}
	}
	if len(cmd.Ops) > 0 {
		cmds = append(cmds, cmd)
	}
	return cmds
}

// statusEqual tells whether a report changes nothing the store shows.
func statusEqual(a, b *model.TaskStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.Err == b.Err &&
		reflect.DeepEqual(a.Container, b.Container) && reflect.DeepEqual(a.Ports, b.Ports)
}
