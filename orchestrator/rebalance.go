package orchestrator

import (
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Rebalancing, which Swarm lacks: when a node becomes eligible (joins, is
// activated, comes back ready, gains labels) or a leader takes over, the
// replicated services that opted in (ServiceSpec.Rebalance, or the cluster's
// Orchestration.Rebalance) move tasks from the most loaded eligible nodes
// until the spread is even: max - min <= 1 live tasks per node, over the
// nodes that are ready, active and match the service's constraints and
// platforms. Paused nodes are left out: their tasks stay and they take no
// more.
//
// A move replaces a task in its own slot, exactly as a rolling update does,
// with the service's UpdateConfig (parallelism, delay, order): stop-first
// stops the task and the slot is refilled once it stopped; start-first
// creates the new task first and stops the old one once the new one runs.
// The orchestrator does not place tasks: the scheduler puts the new task on
// the least loaded node, which is the point. Batches run only when nothing
// else moves (no update in progress, no restart, no pending placement). If
// a batch did not narrow the spread (constraints, resources, or ports
// keep the scheduler from using the emptier nodes), rebalancing stops
// rather than shuffling tasks forever.

// rebalance is the rebalancing in progress of one service. It lives in the
// loop only; a new leader starts a fresh one, which ends at once if the
// spread is even.
type rebalance struct {
	started time.Time // when the first batch was planned; zero before
	lastGap int       // spread when the last batch was planned
	batches int
}

// restart makes a rebalancing in progress start counting its progress
// again: a new node became eligible.
func (rb *rebalance) restart() { rb.batches = 0 }

func (r *round) rebalance(svc *model.Service, keys []*slot, p *plan) {
	rb := r.loop.rebalances[svc.ID]
	if rb == nil {
		return
	}
	done := func(msg string, args ...any) {
		delete(r.loop.rebalances, svc.ID)
		if msg != "" {
			r.log.Info(msg, append([]any{"service", svc.ID}, args...)...)
		}
	}
	if !svc.Spec.Rebalance && !r.rebalanceAll {
		done("")
		return
	}
	if p.changesTasks() || p.status != nil {
		return // something else is moving; look again once it settled
	}
	if us := svc.UpdateStatus; us != nil && (us.State == model.UpdateStateUpdating || us.State == model.UpdateStateRollbackStarted) {
		return
	}
	cfg := updateConfig(svc, false)
	busy := 0
	for _, s := range keys {
		if s.outdated(svc) {
			return // a paused update holds the service: moving tasks would update them
		}
		if len(s.live) == 0 {
			return // a restart is pending: the spread is not what it will be
		}
		if b, until := s.busy(svc, rb.started, cfg.Delay, r.now); b {
			busy++
			p.wakeAt(until)
		}
	}

	pl := newPlacement(&svc.Spec.Task)
	counts := map[string]int{}
	var eligible []string
	for _, n := range r.nodeList {
		if ready(n) && pl.matches(n) {
			counts[n.ID] = 0
			eligible = append(eligible, n.ID)
		}
	}
	if len(eligible) < 2 {
		done("")
		return
	}
	movable := map[string][]*slot{}
	for _, s := range keys {
		for _, t := range s.live {
			if t.NodeID == "" {
				return // wait for the scheduler
			}
			if _, ok := counts[t.NodeID]; !ok {
				continue
			}
			counts[t.NodeID]++
			if len(s.live) == 1 && t.Status.State == model.TaskStateRunning {
				movable[t.NodeID] = append(movable[t.NodeID], s)
			}
		}
	}
	hi, lo := extremes(eligible, counts)
	gap := counts[hi] - counts[lo]
	if busy > 0 {
		return
	}
	if gap <= 1 {
		if rb.batches > 0 {
			done("rebalanced", "batches", rb.batches)
		} else {
			done("")
		}
		return
	}
	if rb.batches > 0 && gap >= rb.lastGap {
		done("rebalancing made no progress; giving up", "spread", gap)
		return
	}

	budget := len(keys)
	if n := cfg.Parallelism; n > 0 && n < uint64(len(keys)) {
		budget = int(n)
	}
	moved := 0
	for moved < budget {
		hi, lo := extremes(eligible, counts)
		from := movable[hi]
		if counts[hi]-counts[lo] <= 1 || len(from) == 0 {
			break
		}
		s := from[len(from)-1] // the highest slot
		movable[hi] = from[:len(from)-1]
		counts[hi]--
		counts[lo]++
		if cfg.Order == model.UpdateOrderStartFirst {
			if _, ok := p.add(s); !ok {
				break
			}
		} else {
			p.stop(s.live[0], "rebalance")
		}
		moved++
		r.log.Debug("moving task", "service", svc.ID, "slot", s.num, "task", s.live[0].ID, "from", hi)
	}
	if moved > 0 {
		if rb.batches == 0 {
			rb.started = r.stamp
		}
		rb.batches++
		rb.lastGap = gap
		r.log.Info("rebalancing", "service", svc.ID, "spread", gap, "moving", moved, "order", cfg.Order)
	}
}

// extremes returns the most and least loaded nodes, lowest IDs first on
// ties (ids is sorted).
func extremes(ids []string, counts map[string]int) (hi, lo string) {
	for _, id := range ids {
		if hi == "" || counts[id] > counts[hi] {
			hi = id
		}
		if lo == "" || counts[id] < counts[lo] {
			lo = id
		}
	}
	return hi, lo
}
