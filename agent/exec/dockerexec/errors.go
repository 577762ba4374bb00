package dockerexec

import (
	"errors"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent/exec"
)

// Errors of the Docker executor. Controllers also return exec's errors
// (exec.ErrTaskPrepared, exec.ErrContainerUnhealthy, *exec.ExitError, ...).
var (
	// ErrImageUnavailable is returned, wrapped with the image and the
	// registry's message, by Prepare when the image is not on the engine
	// and cannot be pulled. Do rejects the task.
	ErrImageUnavailable = errors.New("dockerexec: image unavailable")

	// ErrNotOwned is returned when a container exists under the task's
	// name, or with the ID given, but is labelled for another node or
	// task: this executor never touches it.
	ErrNotOwned = errors.New("dockerexec: container belongs to another node or task")

	// ErrNoContainer is returned by Start, Wait and Logs when the
	// container does not exist (never prepared, or removed behind the
	// agent's back).
	ErrNoContainer = errors.New("dockerexec: no such container")

	// ErrNotStarted is returned by Wait for a container that was created
	// but never started.
	ErrNotStarted = errors.New("dockerexec: container never started")

	// ErrEngineTimeout is returned, wrapped and temporary, when the engine
	// did not answer a call within the executor's call timeout (a daemon
	// that is frozen, deadlocked or swapping): the node reports its engine
	// unavailable and the call is retried later.
	ErrEngineTimeout = errors.New("dockerexec: the engine did not answer in time")
)

// engineErr marks errors that say the engine could not be reached, or is
// busy, as temporary: the task is not at fault and Do retries.
func engineErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrEngineTimeout) {
		return exec.MakeTemporary(err)
	}
	if client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) {
		return exec.MakeTemporary(err)
	}
	return err
}
