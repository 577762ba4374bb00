package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Do moves the task one step towards its desired state using ctlr and
// returns the task's new status. The caller reports that status, stores it
// in the task and calls Do again (see the package documentation for the
// loop). task is not modified.
//
// The steps, for a desired state of RUNNING:
//
//	NEW..ASSIGNED -> ACCEPTED -> PREPARING -Prepare-> READY -> STARTING
//	  -Start-> RUNNING -Wait-> COMPLETE (exit 0) or FAILED
//
// A desired state of SHUTDOWN or beyond moves any non-terminal task to
// SHUTDOWN through ctlr.Shutdown. States never move backwards and terminal
// states are final: Do returns ErrTaskNoop for them.
//
// A controller error that is not temporary ends the task: REJECTED before
// STARTING (it could never run here), FAILED from STARTING on, with the
// error in TaskStatus.Err. A temporary error, a cancelled ctx or a failed
// Shutdown leaves the state as it is and returns an error wrapping
// ErrTaskRetry. Do blocks as long as the step does: Wait blocks until the
// task exits, so cancel ctx to make Do return and call it again with the
// updated task when the desired state changes.
func Do(ctx context.Context, task *model.Task, ctlr Controller) (*model.TaskStatus, error) {
	d := &step{
		ctx:    ctx,
		task:   task,
		ctlr:   ctlr,
		status: cloneStatus(&task.Status),
		from:   task.Status.State,
		log:    Logger(ctx).With("task.id", task.ID, "task.name", task.Name()),
	}
	return d.run()
}

// step is one call of Do.
type step struct {
	ctx    context.Context
	task   *model.Task
	ctlr   Controller
	status *model.TaskStatus
	from   model.TaskState
	log    *slog.Logger
}

func (d *step) run() (*model.TaskStatus, error) {
	if d.from.Terminal() {
		return d.status, ErrTaskNoop
	}

	if d.task.DesiredState >= model.TaskStateShutdown {
		if err := d.ctlr.Shutdown(d.ctx); err != nil {
			if errors.Is(err, ErrControllerClosed) {
				return d.status, err
			}
			// The task may still run: it cannot be declared shut down,
			// and the failure is no fault of the task.
			return d.retry(fmt.Errorf("shutdown: %w", err))
		}
		d.fillContainerStatus()
		return d.transition(model.TaskStateShutdown, "shutdown")
	}

	desired := d.task.DesiredState
	if desired < d.from || (desired == d.from && d.from != model.TaskStateRunning) {
		return d.status, ErrTaskNoop
	}

	switch d.from {
	case model.TaskStateNew, model.TaskStatePending, model.TaskStateAssigned:
		return d.transition(model.TaskStateAccepted, "accepted")

	case model.TaskStateAccepted:
		return d.transition(model.TaskStatePreparing, "preparing")

	case model.TaskStatePreparing:
		err := d.ctlr.Prepare(d.ctx)
		switch {
		case err == nil, errors.Is(err, ErrTaskPrepared):
			d.fillContainerStatus()
			return d.transition(model.TaskStateReady, "prepared")
		case errors.Is(err, ErrTaskStarted):
			d.fillContainerStatus()
			d.fillPorts()
			return d.transition(model.TaskStateRunning, "already started")
		}
		return d.fatal(err)

	case model.TaskStateReady:
		return d.transition(model.TaskStateStarting, "starting")

	case model.TaskStateStarting:
		err := d.ctlr.Start(d.ctx)
		switch {
		case err == nil:
			d.fillContainerStatus()
			d.fillPorts()
			return d.transition(model.TaskStateRunning, "started")
		case errors.Is(err, ErrTaskStarted):
			d.fillContainerStatus()
			d.fillPorts()
			return d.transition(model.TaskStateRunning, "already started")
		}
		return d.fatal(err)

	case model.TaskStateRunning:
		if err := d.ctlr.Wait(d.ctx); err != nil {
			return d.fatal(err)
		}
		d.fillContainerStatus()
		return d.transition(model.TaskStateComplete, "finished")
	}
	return d.status, fmt.Errorf("%w: unknown state %v", ErrInvalidTransition, d.from)
}

// transition moves the status forward.
func (d *step) transition(to model.TaskState, msg string) (*model.TaskStatus, error) {
	if to < d.from {
		return cloneStatus(&d.task.Status), fmt.Errorf("%w: %v -> %v", ErrInvalidTransition, d.from, to)
	}
	d.status.State = to
	d.status.Message = msg
	d.status.Timestamp = time.Now()
	d.log.Debug("task state changed", "from", d.from.String(), "to", to.String(), "msg", msg)
	return d.status, nil
}

// fatal handles a controller's error: retry, or end the task.
func (d *step) fatal(err error) (*model.TaskStatus, error) {
	switch {
	case errors.Is(err, ErrControllerClosed):
		return d.status, err
	case d.ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		IsTemporary(err):
		return d.retry(err)
	}
	d.status.Err = err.Error()
	d.fillContainerStatus()
	if d.from < model.TaskStateStarting {
		d.log.Info("task rejected", "err", err)
		return d.transition(model.TaskStateRejected, "rejected")
	}
	d.log.Info("task failed", "err", err)
	return d.transition(model.TaskStateFailed, "failed")
}

// retry keeps the state; the message says why the task does not move, so
// that a user sees more than a task stuck in PREPARING.
func (d *step) retry(err error) (*model.TaskStatus, error) {
	if d.ctx.Err() == nil {
		d.status.Message = fmt.Sprintf("retrying: %v", err)
		d.status.Timestamp = time.Now()
		d.log.Warn("temporary task error", "state", d.from.String(), "err", err)
	}
	return d.status, fmt.Errorf("%w: %w", ErrTaskRetry, err)
}

// fillContainerStatus records the container's ID, PID and exit code, if
// the controller knows them. A failure keeps the previous value: the step
// itself succeeded and must be reported.
func (d *step) fillContainerStatus() {
	cs, ok := d.ctlr.(ContainerStatuser)
	if !ok || d.ctx.Err() != nil {
		return
	}
	c, err := cs.ContainerStatus(d.ctx)
	if err != nil {
		d.log.Warn("container status unavailable", "err", err)
		return
	}
	if c != nil {
		d.status.Container = c
	}
}

// fillPorts records the published ports of a running task.
func (d *step) fillPorts() {
	ps, ok := d.ctlr.(PortStatuser)
	if !ok || d.ctx.Err() != nil {
		return
	}
	ports, err := ps.PortStatus(d.ctx)
	if err != nil {
		d.log.Warn("port status unavailable", "err", err)
		return
	}
	d.status.Ports = ports
}

// cloneStatus copies a status deeply enough that the copy can be changed
// without touching the task it came from.
func cloneStatus(s *model.TaskStatus) *model.TaskStatus {
	c := *s
	if s.Container != nil {
		cs := *s.Container
		c.Container = &cs
	}
	if s.Ports != nil {
		c.Ports = append([]model.PortConfig(nil), s.Ports...)
	}
	return &c
}
