package exec

import (
	"context"

	"github.com/shoal-dev/shoal/model"
)

// Controller runs one task on a node's runtime. Each method is one step of
// the task's lifecycle; Do decides which step comes next.
//
// Implementations must be safe for concurrent use and idempotent: after an
// agent restart a fresh controller is made for a task whose resources may
// already exist, and any method may be called again after a failure. The
// controller keeps no state that the runtime does not also hold. It does
// not own the task it was made for and never modifies it.
type Controller interface {
	// Prepare makes everything the task needs (image, container) so that
	// Start runs it at once. It returns ErrTaskPrepared if that is already
	// done and ErrTaskStarted if the task was started before. An error that
	// is not temporary means the task can never run here: it is rejected.
	Prepare(ctx context.Context) error

	// Start starts the task and returns once it runs: for a task with a
	// healthcheck, once it is healthy (ErrContainerUnhealthy if it turns
	// unhealthy first). It returns ErrTaskStarted if the task was started
	// before.
	Start(ctx context.Context) error

	// Wait blocks until the task exits: nil for exit code 0, an *ExitError
	// otherwise. For a task with a healthcheck it also returns, wrapping
	// ErrContainerUnhealthy, once the task turns unhealthy, having stopped
	// it. A cancelled ctx only stops the waiting.
	Wait(ctx context.Context) error

	// Shutdown stops the task gracefully: the stop signal, then a kill
	// once the task's stop grace period has passed. It returns nil if
	// there is nothing to stop, including when Prepare never ran.
	Shutdown(ctx context.Context) error

	// Terminate kills the task at once. It returns nil if there is nothing
	// to kill.
	Terminate(ctx context.Context) error

	// Remove releases everything Prepare made, stopping the task first if
	// it still runs. It returns nil if there is nothing to remove.
	Remove(ctx context.Context) error

	// Close releases the controller's own resources, not the task's. After
	// Close every method returns ErrControllerClosed.
	Close() error
}

// ContainerStatuser is implemented by controllers whose tasks run in a
// container. Do uses it to fill TaskStatus.Container.
type ContainerStatuser interface {
	// ContainerStatus returns the container's ID, PID and exit code, or
	// nil and no error if there is no container (yet, or any more).
	ContainerStatus(ctx context.Context) (*model.ContainerStatus, error)
}

// PortStatuser is implemented by controllers that publish ports. Do uses it
// to fill TaskStatus.Ports once the task runs.
type PortStatuser interface {
	// PortStatus returns the ports published on the node, with the
	// published port the runtime chose when the spec left it to it. The
	// caller may modify the returned slice.
	PortStatus(ctx context.Context) ([]model.PortConfig, error)
}
