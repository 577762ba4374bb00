package agent

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

// worker drives one assigned task with exec.Do, from the status the
// manager last knew (so that after a restart it adopts the task's
// container: Prepare and Start find their work done and Wait picks up the
// running container), and reports every status change. Workers outlive
// sessions: a lost session changes nothing for a running task.
type worker struct {
	a   *Agent
	id  string
	log *slog.Logger

	mu sync.Mutex
	// task holds the managers' fields and the agent's own observed status,
	// which only moves forward.
	task       *model.Task
	version    int // bumped by changes the loop must act on
	unassigned bool
	changed    chan struct{}
	done       chan struct{}
}

func newWorker(a *Agent, t *model.Task) *worker {
	return &worker{
		a:       a,
		id:      t.ID,
		log:     a.log.With("task.id", t.ID, "task.name", t.Name()),
		task:    t.Copy(),
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

func (w *worker) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// update takes the manager's new version of the task. The agent's status
// is kept unless the manager's is further along.
func (w *worker) update(t *model.Task) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unassigned {
		return
	}
	cp := t.Copy()
	if w.task.Status.State >= t.Status.State {
		cp.Status = w.task.Status
	}
	if cp.DesiredState != w.task.DesiredState {
		w.version++
		defer w.signal()
	}
	w.task = cp
}

// unassign makes the worker remove the task's container and stop.
func (w *worker) unassign() {
	w.mu.Lock()
	if !w.unassigned {
		w.unassigned = true
		w.version++
	}
	w.mu.Unlock()
	w.signal()
}

func (w *worker) snapshot() (*model.Task, int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.task.Copy(), w.version, w.unassigned
}

// current returns the task as the agent sees it now.
func (w *worker) current() *model.Task {
	t, _, _ := w.snapshot()
	return t
}

func (w *worker) setStatus(st model.TaskStatus) {
	w.mu.Lock()
	if st.State >= w.task.Status.State {
		t := *w.task
		t.Status = st
		w.task = &t
	}
	w.mu.Unlock()
}

// wait blocks until the version moves past ver, ctx ends or, if d > 0, d
// has passed.
func (w *worker) wait(ctx context.Context, ver int, d time.Duration) {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for {
		w.mu.Lock()
		moved := w.version != ver
		w.mu.Unlock()
		if moved {
			return
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return
		case <-timeout:
			return
		}
	}
}

// cancelOnChange cancels a step in flight when the task changes.
func (w *worker) cancelOnChange(ctx context.Context, ver int, cancel context.CancelFunc) {
	go func() {
		w.wait(ctx, ver, 0)
		cancel()
	}()
}

// run is the task's loop (see agent/exec's documentation). It returns when
// the task is unassigned and its container removed, or when ctx ends, in
// which case the container is left as it is.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.a.workerDone(w)
	ctx = exec.WithLogger(ctx, w.log)

	ctlr, err := w.a.cfg.Executor.Controller(w.current())
	if err != nil {
		w.reject(err)
		for ctx.Err() == nil {
			_, ver, unassigned := w.snapshot()
			if unassigned {
				return
			}
			w.wait(ctx, ver, 0)
		}
		return
	}
	defer ctlr.Close()

	backoff := w.a.cfg.BackoffInitial
	removed := false
	for ctx.Err() == nil {
		task, ver, unassigned := w.snapshot()
		if unassigned {
			w.remove(ctx, ctlr)
			return
		}
		if task.Status.State.Terminal() {
			if task.DesiredState >= model.TaskStateRemove && !removed {
				if err := ctlr.Remove(ctx); err != nil {
					w.log.Warn("removing the task's container failed; retrying", "err", err, "retry_in", backoff)
					w.wait(ctx, ver, backoff)
					backoff = min(2*backoff, w.a.cfg.BackoffMax)
					continue
				}
				w.log.Debug("task container removed")
				removed = true
			}
			w.wait(ctx, ver, 0)
			continue
		}

		stepCtx, cancel := context.WithCancel(ctx)
		w.cancelOnChange(stepCtx, ver, cancel)
		paced := callsEngineToStart(task)
		if paced {
			// Wait for a turn (Config.MaxConcurrentStarts); a change to
			// the task (a shutdown) ends the wait.
			select {
			case w.a.starts <- struct{}{}:
			case <-stepCtx.Done():
				cancel()
				continue
			}
		}
		status, err := exec.Do(stepCtx, task, ctlr)
		if paced {
			<-w.a.starts
		}
		cancel()
		if !statusEqual(&task.Status, status) {
			w.setStatus(*status)
			w.a.reporter.report(w.id, *status)
			if status.Container != nil && task.Status.Container == nil {
				w.a.taskHasContainer(w.current())
			}
		}
		switch {
		case err == nil:
			backoff = w.a.cfg.BackoffInitial
		case errors.Is(err, exec.ErrTaskNoop):
			w.wait(ctx, ver, 0)
		case errors.Is(err, exec.ErrTaskRetry):
			if _, now, _ := w.snapshot(); now != ver {
				continue // interrupted by a change: act on it at once
			}
			w.wait(ctx, ver, jitter(backoff))
			backoff = min(2*backoff, w.a.cfg.BackoffMax)
		default:
			w.log.Error("task step failed", "err", err)
			w.wait(ctx, ver, 0)
		}
	}
}

// callsEngineToStart tells whether the next step of the task (exec.Do)
// makes or starts its container: Prepare in PREPARING, Start in STARTING,
// for a task still meant to run.
func callsEngineToStart(t *model.Task) bool {
	return t.DesiredState <= model.TaskStateRunning &&
		(t.Status.State == model.TaskStatePreparing || t.Status.State == model.TaskStateStarting)
}

// reject reports a task the executor refused to make a controller for.
func (w *worker) reject(err error) {
	task := w.current()
	if task.Status.State.Terminal() {
		return
	}
	st := task.Status
	st.State, st.Message, st.Err, st.Timestamp = model.TaskStateRejected, "rejected", err.Error(), time.Now()
	w.log.Info("task rejected", "err", err)
	w.setStatus(st)
	w.a.reporter.report(w.id, st)
}

// remove removes the container of a task no longer assigned to the node.
func (w *worker) remove(ctx context.Context, ctlr exec.Controller) {
	backoff := w.a.cfg.BackoffInitial
	for {
		err := ctlr.Remove(ctx)
		if err == nil {
			w.log.Info("task no longer assigned: container removed")
			return
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("removing the container of an unassigned task failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.a.cfg.BackoffMax)
	}
}

// statusEqual tells whether two statuses differ in what is reported.
func statusEqual(a, b *model.TaskStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.Err == b.Err &&
		reflect.DeepEqual(a.Container, b.Container) && reflect.DeepEqual(a.Ports, b.Ports)
}
