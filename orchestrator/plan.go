package orchestrator

import (
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// plan is what one round decided for one service: the operations of its
// part of the round's Raft command, and when to look at it again.
type plan struct {
	serviceID string
	// svc is the service as the round read it; nil once it is deleted.
	svc *model.Service
	// limit is the most task changes the plan may hold
	// (Config.MaxRoundChanges).
	limit int
	// createBudget is the most tasks the plan may create: what
	// Config.MaxStartingTasks leaves once the service's starting tasks are
	// counted. paced is set when it ran out.
	createBudget int
	paced        bool

	create   []state.NewTask
	shutdown []string
	remove   []string // desired state REMOVE, for tasks of deleted services
	del      []string
	stopped  map[string]bool
	deleted  map[string]bool

	// status, when set, is the UpdateStatus to write; with rollback the
	// write also swaps the spec back (OpRollbackService).
	status   *model.UpdateStatus
	rollback bool
	// clearStatus, with status nil, writes a nil UpdateStatus: the mark
	// of a refused service goes (see round.refuse).
	clearStatus bool

	// wake is when the service must be looked at again without any change
	// to it (restart delay, update delay, monitor period); zero for never.
	wake time.Time
	// full is set when the plan hit its limit: the rest comes next round.
	full bool
	// follow is set when the plan's decisions wait for tasks to start or
	// run (see loop.follow).
	follow bool
	// refused is set once an operation of the plan was refused on a
	// precondition: the rest of a plan split over several commands is not
	// written (see loop.commit).
	refused bool
}

func newPlan(id string, svc *model.Service, limit int) *plan {
	return &plan{serviceID: id, svc: svc, limit: limit, createBudget: limit, stopped: map[string]bool{}, deleted: map[string]bool{}}
}

// starting counts the tasks on their way to running: wanted, not yet
// running, not ended.
func starting(tasks []*model.Task) int {
	n := 0
	for _, t := range tasks {
		if t.DesiredState <= model.TaskStateRunning && t.Status.State < model.TaskStateRunning {
			n++
		}
	}
	return n
}

// items counts the task changes in the plan.
func (p *plan) items() int { return len(p.create) + len(p.shutdown) + len(p.remove) + len(p.del) }

func (p *plan) room() bool {
	if p.items() >= p.limit {
		p.full = true
		return false
	}
	return true
}

// add plans the creation of a task in slot s. The task (a new ID) is made
// only if the plan has room: a service missing many tasks would otherwise
// make one for each, every round, to keep a few.
func (p *plan) add(s *slot) (state.NewTask, bool) {
	if !p.room() {
		return state.NewTask{}, false
	}
	if len(p.create) >= p.createBudget {
		// The rest waits for starting tasks to run: the service is looked
		// at again after Config.PacingInterval (round.plan).
		p.paced = true
		return state.NewTask{}, false
	}
	nt := s.newTask()
	p.create = append(p.create, nt)
	return nt, true
}

// stop plans setting t's desired state to SHUTDOWN. reason is unused but
// documents each call site.
func (p *plan) stop(t *model.Task, _ string) {
	if t.DesiredState >= model.TaskStateShutdown || p.stopped[t.ID] || !p.room() {
		return
	}
	p.stopped[t.ID] = true
	p.shutdown = append(p.shutdown, t.ID)
}

// delete plans deleting t.
func (p *plan) delete(t *model.Task) {
	if p.deleted[t.ID] || !p.room() {
		return
	}
	p.deleted[t.ID] = true
	p.del = append(p.del, t.ID)
}

// markRemove plans setting t's desired state to REMOVE.
func (p *plan) markRemove(t *model.Task) {
	if t.DesiredState >= model.TaskStateRemove || p.deleted[t.ID] || !p.room() {
		return
	}
	p.remove = append(p.remove, t.ID)
}

// wakeAt asks for a look at the service at t, keeping the earliest.
func (p *plan) wakeAt(t time.Time) {
	if !t.IsZero() && (p.wake.IsZero() || t.Before(p.wake)) {
		p.wake = t
	}
}

// changesTasks tells whether the plan creates or stops tasks.
func (p *plan) changesTasks() bool { return len(p.create) > 0 || len(p.shutdown) > 0 }

// ops returns the plan's operations. A rollback is written alone: it moves
// the spec version, which the other operations are checked against.
func (p *plan) ops() []state.Op {
	if p.svc != nil && p.rollback {
		return []state.Op{{
			Type: state.OpRollbackService, ID: p.serviceID,
			SpecVersion: p.svc.SpecVersion.Index, UpdateStatus: p.status,
		}}
	}
	var ops []state.Op
	if p.svc != nil && (p.status != nil || p.clearStatus) {
		ops = append(ops, state.Op{
			Type: state.OpServiceUpdateStatus, ID: p.serviceID,
			SpecVersion: p.svc.SpecVersion.Index, UpdateStatus: p.status,
		})
	}
	if len(p.shutdown) > 0 {
		ops = append(ops, state.Op{Type: state.OpSetTasksDesired, IDs: p.shutdown, DesiredState: model.TaskStateShutdown})
	}
	if len(p.remove) > 0 {
		ops = append(ops, state.Op{Type: state.OpSetTasksDesired, IDs: p.remove, DesiredState: model.TaskStateRemove})
	}
	if p.svc != nil && len(p.create) > 0 {
		ops = append(ops, state.Op{
			Type: state.OpCreateTasks, ID: p.serviceID,
			SpecVersion: p.svc.SpecVersion.Index, NewTasks: p.create,
		})
	}
	if len(p.del) > 0 {
		ops = append(ops, state.Op{Type: state.OpDeleteTasks, IDs: p.del})
	}
	return ops
}
