package convert

import (
	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/state"
)

// TaskToDocker converts a stored task for GET /tasks and GET /tasks/{id}.
// Like Docker, it leaves the task's annotations empty: the CLI names a task
// from its service and slot (or node).
func TaskToDocker(t *state.Task) swarm.Task {
	out := swarm.Task{
		ID:           t.ID,
		Meta:         metaToDocker(t.Meta),
		Annotations:  swarm.Annotations{Labels: map[string]string{}},
		Spec:         taskSpecToDocker(t.Spec),
		ServiceID:    t.ServiceID,
		Slot:         int(t.Slot),
		NodeID:       t.NodeID,
		DesiredState: swarm.TaskState(t.DesiredState.String()),
		Status: swarm.TaskStatus{
			Timestamp: t.Status.Timestamp,
			State:     swarm.TaskState(t.Status.State.String()),
			Message:   t.Status.Message,
			Err:       t.Status.Err,
			PortStatus: swarm.PortStatus{
				Ports: portsToDocker(t.Status.Ports),
			},
		},
	}
	if cs := t.Status.Container; cs != nil {
		out.Status.ContainerStatus = &swarm.ContainerStatus{
			ContainerID: cs.ContainerID,
			PID:         cs.PID,
			ExitCode:    cs.ExitCode,
		}
	}
	return out
}
