package convert

import (
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// TaskToDocker converts a stored task for GET /tasks and GET /tasks/{id}.
// Like Docker, it leaves the task's annotations empty: the CLI names a task
// from its service and slot (or node). svc is the task's service, or nil if
// it is gone: a job's task names its iteration, its spec version (see
// model.JobStatus).
func TaskToDocker(t *model.Task, svc *model.Service) swarm.Task {
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
	if svc != nil && svc.Spec.IsJob() {
		out.JobIteration = &swarm.Version{Index: t.SpecVersion.Index}
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

// TaskNetworksToDocker converts a task's network attachments for its
// NetworksAttachments: each network as Docker shows it in a task (its
// spec, with the effective address configuration), and the task's
// addresses. network looks networks up by ID; one it does not find (a
// network removed while its task stops) shows with its ID alone.
func TaskNetworksToDocker(t *model.Task, network func(id string) *model.Network) []swarm.NetworkAttachment {
	var out []swarm.NetworkAttachment
	for _, a := range t.Networks {
		na := swarm.NetworkAttachment{Network: swarm.Network{ID: a.NetworkID}, Addresses: slices.Clone(a.Addresses)}
		if n := network(a.NetworkID); n != nil {
			na.Network = networkToSwarm(n)
		}
		out = append(out, na)
	}
	return out
}

// networkToSwarm is a network in Docker's swarm shape, as tasks show it.
func networkToSwarm(n *model.Network) swarm.Network {
	out := swarm.Network{
		ID:   n.ID,
		Meta: metaToDocker(n.Meta),
		Spec: swarm.NetworkSpec{
			Annotations:         swarm.Annotations{Name: n.Spec.Name, Labels: labelsOrEmpty(n.Spec.Labels)},
			DriverConfiguration: &swarm.Driver{Name: n.Spec.Driver},
			Internal:            n.Spec.Internal,
			Attachable:          n.Spec.Attachable,
			Ingress:             n.Spec.Ingress,
		},
		DriverState: swarm.Driver{Name: n.Spec.Driver},
		IPAMOptions: &swarm.IPAMOptions{Driver: swarm.Driver{Name: "default"}},
	}
	if n.VNI != 0 {
		out.DriverState.Options = map[string]string{"com.docker.network.driver.overlay.vxlanid_list": strconv.FormatUint(uint64(n.VNI), 10)}
	}
	for _, c := range n.IPAM {
		out.IPAMOptions.Configs = append(out.IPAMOptions.Configs, swarm.IPAMConfig{Subnet: c.Subnet, Range: c.Range, Gateway: c.Gateway})
	}
	return out
}
