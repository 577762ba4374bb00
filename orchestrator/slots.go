package orchestrator

import (
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// slot holds the tasks of one replica of a replicated service (by slot
// number) or of one node of a global service. Each task is in exactly one
// of the lists below, decided by classify from the task's desired and
// observed states and from its node.
type slot struct {
	num    uint64 // slot number of a replicated service; 0 for global
	nodeID string // node of a global service's slot

	// live tasks are wanted (desired state at most running) and either
	// occupy a usable node or wait to be placed. A settled slot has at most
	// one, or two while a start-first replacement starts.
	live []*model.Task
	// stopping tasks were asked to stop and still run on a usable node:
	// the slot is refilled only once they stopped (stop-first).
	stopping []*model.Task
	// ended tasks stopped (observed state terminal) while still wanted:
	// the restart policy decides on their replacement.
	ended []*model.Task
	// lost tasks are wanted but their node is gone, down or drained: they
	// are replaced at once and asked to stop.
	lost []*model.Task
	// dead tasks are asked to stop and no longer run anywhere, or never
	// reached a node: history.
	dead []*model.Task

	// filled is set when the round creates a new task in the slot.
	filled bool
}

// usableFunc tells whether a task on this node still counts as running
// there.
type usableFunc func(nodeID string) bool

// classify puts t into the list of s it belongs to.
func (s *slot) add(t *model.Task, usable usableFunc) {
	wanted := t.DesiredState.Wanted()
	switch {
	case t.Status.State.Terminal():
		if wanted {
			s.ended = append(s.ended, t)
		} else {
			s.dead = append(s.dead, t)
		}
	case t.Status.State < model.TaskStateAssigned && !wanted:
		// Never assigned: no scheduler will place it, no agent runs it.
		s.dead = append(s.dead, t)
	case t.NodeID == "" || usable(t.NodeID):
		if wanted {
			s.live = append(s.live, t)
		} else {
			s.stopping = append(s.stopping, t)
		}
	case wanted:
		s.lost = append(s.lost, t)
	default:
		// Asked to stop on a node that is gone or down: if the node comes
		// back its agent stops it; nothing waits for it.
		s.dead = append(s.dead, t)
	}
}

// groupBySlot groups a replicated service's tasks by slot number.
func groupBySlot(tasks []*model.Task, usable usableFunc) map[uint64]*slot {
	slots := map[uint64]*slot{}
	for _, t := range tasks {
		s := slots[t.Slot]
		if s == nil {
			s = &slot{num: t.Slot}
			slots[t.Slot] = s
		}
		s.add(t, usable)
	}
	return slots
}

// groupByNode groups a global service's tasks by node.
func groupByNode(tasks []*model.Task, usable usableFunc) map[string]*slot {
	slots := map[string]*slot{}
	for _, t := range tasks {
		s := slots[t.NodeID]
		if s == nil {
			s = &slot{nodeID: t.NodeID}
			slots[t.NodeID] = s
		}
		s.add(t, usable)
	}
	return slots
}

// newTask returns the task that fills s.
func (s *slot) newTask() state.NewTask {
	return state.NewTask{ID: model.NewID(), Slot: s.num, NodeID: s.nodeID}
}

// logKey returns the slot's identity for logs.
func (s *slot) logKey() []any {
	if s.num != 0 {
		return []any{"slot", s.num}
	}
	return []any{"node", s.nodeID}
}

// newerFirst orders tasks from the most recently created; IDs break ties
// so that every leader orders them alike.
func newerFirst(a, b *model.Task) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// lastGone returns the most recently created task of the slot that is not
// live: the one whose fate decides how the slot is refilled.
func (s *slot) lastGone() *model.Task {
	var last *model.Task
	for _, l := range [][]*model.Task{s.ended, s.lost, s.dead, s.stopping} {
		for _, t := range l {
			if last == nil || newerFirst(t, last) < 0 {
				last = t
			}
		}
	}
	return last
}

// hasUpToDate tells whether a live task of the slot runs the service's
// current spec.
func (s *slot) hasUpToDate(svc *model.Service) bool {
	for _, t := range s.live {
		if model.TaskUpToDate(t, svc) {
			return true
		}
	}
	return false
}

// outdated tells whether the slot must be replaced by a rolling update: its
// live task runs an old spec. A slot without a live task is restart
// supervision's: it refills an ended task of an old spec at once, from the
// current spec, so an update reruns finished jobs as `docker service update
// --force` does.
func (s *slot) outdated(svc *model.Service) bool {
	return len(s.live) > 0 && !s.hasUpToDate(svc)
}

// busy tells whether the slot is being replaced by a rolling update or a
// rebalance that started at since: an old task is stopping, a new one is
// being created or starting, both run side by side (start-first), or the
// new one started less than delay ago. until is when the delay ends, if
// that is the reason. A new task that ended has had its turn, as in
// Docker: its slot is no longer busy, whatever restart supervision does
// next, and the failure counts against the update.
func (s *slot) busy(svc *model.Service, since time.Time, delay time.Duration, now time.Time) (busy bool, until time.Time) {
	if len(s.live) >= 2 {
		return true, time.Time{}
	}
	if len(s.live) == 0 {
		return s.filled || len(s.stopping) > 0, time.Time{}
	}
	t := s.live[0]
	if !model.TaskUpToDate(t, svc) || t.CreatedAt.Before(since) {
		return false, time.Time{}
	}
	if t.Status.State < model.TaskStateRunning {
		return true, time.Time{}
	}
	if end := t.Status.Timestamp.Add(delay); delay > 0 && end.After(now) {
		return true, end
	}
	return false, time.Time{}
}

// settle keeps at most one live task in the slot, or two while a new task
// starts beside a running one (start-first), and asks the others to stop.
// Among tasks to stop it prefers those on the nodes running the most tasks
// of the service (load). It also stops wanted tasks that a live task
// replaces (ended or lost ones).
func (s *slot) settle(p *plan, load map[string]int) {
	if len(s.live) == 0 {
		return
	}
	for _, t := range s.ended {
		p.stop(t, "replaced")
	}
	for _, t := range s.lost {
		p.stop(t, "replaced")
	}
	if len(s.live) < 2 {
		return
	}
	slices.SortFunc(s.live, newerFirst)
	keep := []*model.Task{s.live[0]}
	rest := slices.Clone(s.live[1:])
	if s.live[0].Status.State < model.TaskStateRunning {
		// The newest task replaces the others start-first: keep the best of
		// them running until it runs, which the service must hear of.
		p.follow = true
		slices.SortStableFunc(rest, func(a, b *model.Task) int {
			if ar, br := a.Status.State == model.TaskStateRunning, b.Status.State == model.TaskStateRunning; ar != br {
				if ar {
					return -1
				}
				return 1
			}
			return load[a.NodeID] - load[b.NodeID]
		})
		keep = append(keep, rest[0])
		rest = rest[1:]
	}
	for _, t := range rest {
		p.stop(t, "duplicate in slot")
		if load != nil {
			load[t.NodeID]--
		}
	}
	s.live = keep
}

// retire asks every wanted task of the slot to stop: the slot is no longer
// wanted (scaled down, node drained or no longer eligible).
func (s *slot) retire(p *plan, reason string) {
	for _, l := range [][]*model.Task{s.live, s.lost, s.ended} {
		for _, t := range l {
			p.stop(t, reason)
		}
	}
	s.stopping = append(s.stopping, s.live...)
	s.live = nil
}

// liveLoad counts the live tasks of a service per node.
func liveLoad[K comparable](slots map[K]*slot) map[string]int {
	load := map[string]int{}
	for _, s := range slots {
		for _, t := range s.live {
			if t.NodeID != "" {
				load[t.NodeID]++
			}
		}
	}
	return load
}
