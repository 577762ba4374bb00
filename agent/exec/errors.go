package exec

import (
	"errors"
	"fmt"
)

// Errors shared by Do, controllers and executors.
var (
	// ErrTaskNoop is returned by Do when calling it again cannot move the
	// task: its state is terminal or has reached the desired state. Call Do
	// again only once the task has changed (new desired state).
	ErrTaskNoop = errors.New("exec: task noop")

	// ErrTaskRetry is returned by Do, wrapping the cause, when a temporary
	// error or a cancelled context stopped the task from moving. The
	// returned status keeps its state (its message may say why); call Do
	// again after a back-off.
	ErrTaskRetry = errors.New("exec: task retry")

	// ErrTaskPrepared is returned by Controller.Prepare when the task's
	// resources already exist: Do then moves on as if Prepare succeeded.
	ErrTaskPrepared = errors.New("exec: task already prepared")

	// ErrTaskStarted is returned by Controller.Prepare or Start when the
	// task has already been started (it may since have exited): Do moves
	// the task to RUNNING and Wait reports how it ends.
	ErrTaskStarted = errors.New("exec: task already started")

	// ErrControllerClosed is returned by a controller's methods after
	// Close. Do returns it as is, without changing the status: it is a bug
	// of the caller, not a fault of the task.
	ErrControllerClosed = errors.New("exec: controller closed")

	// ErrContainerUnhealthy is returned, wrapped with the last health
	// check's output, by Start or Wait when the container's healthcheck
	// declares it unhealthy. The controller has stopped the container.
	ErrContainerUnhealthy = errors.New("exec: container unhealthy")

	// ErrInvalidTask is returned, wrapped, by Executor.Controller when the
	// task cannot be run at all (no image, no ID, another node's task).
	// The task should be reported REJECTED with the error.
	ErrInvalidTask = errors.New("exec: invalid task")

	// ErrInvalidTransition is returned by Do if a step would move the task
	// backwards. It cannot happen unless Do itself is broken; it exists so
	// that the forward-only rule is checked, not assumed.
	ErrInvalidTransition = errors.New("exec: invalid state transition")
)

// ExitError is returned by Controller.Wait (or Start) when the task's
// process exited with a non-zero code.
type ExitError struct {
	// Code is the process's exit code.
	Code int
	// Cause says more when the runtime knows it (out of memory, an engine
	// error); it may be nil.
	Cause error
}

// Error reads like Docker's "task: non-zero exit (1)", which users know
// from `docker service ps`.
func (e *ExitError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("task: non-zero exit (%d): %v", e.Code, e.Cause)
	}
	return fmt.Sprintf("task: non-zero exit (%d)", e.Code)
}

// Unwrap returns the cause.
func (e *ExitError) Unwrap() error { return e.Cause }

// Temporary is implemented by errors that say whether the failed operation
// may succeed if tried again. Do retries temporary errors instead of
// rejecting or failing the task.
type Temporary interface {
	Temporary() bool
}

// MakeTemporary marks err as temporary. It returns nil for nil.
func MakeTemporary(err error) error {
	if err == nil || IsTemporary(err) {
		return err
	}
	return temporary{err}
}

// IsTemporary reports whether err or an error it wraps is temporary.
func IsTemporary(err error) bool {
	var t Temporary
	return errors.As(err, &t) && t.Temporary()
}

type temporary struct{ error }

func (t temporary) Unwrap() error   { return t.error }
func (t temporary) Temporary() bool { return true }
