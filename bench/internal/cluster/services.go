package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// ReplicatedSpec is a service of n replicas of image.
func ReplicatedSpec(name, image string, n uint64) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}
}

// RunningTasks is what `docker service ls` shows for a service: its
// running tasks (GET /services?status=true, a linearizable read).
func RunningTasks(ctx context.Context, cl *client.Client, id string) (uint64, error) {
	svcs, err := cl.ServiceList(ctx, swarm.ServiceListOptions{Status: true, Filters: filters.NewArgs(filters.Arg("id", id))})
	if err != nil {
		return 0, err
	}
	for _, s := range svcs {
		if s.ID == id && s.ServiceStatus != nil {
			return s.ServiceStatus.RunningTasks, nil
		}
	}
	return 0, fmt.Errorf("service %s not listed", id)
}

// WaitRunning polls RunningTasks every interval until it reaches want or
// timeout passes.
func WaitRunning(cl *client.Client, id string, want uint64, interval, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := RunningTasks(ctx, cl, id)
		cancel()
		if err == nil && n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d tasks running after %v (last error: %v)", n, want, timeout, err)
		}
		time.Sleep(interval)
	}
}

// WorkersReady returns nil once at least want worker nodes are READY.
func WorkersReady(cl *client.Client, want int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := cl.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return err
	}
	ready := 0
	for _, n := range ns {
		if n.Spec.Role == swarm.NodeRoleWorker && n.Status.State == swarm.NodeStateReady {
			ready++
		}
	}
	if ready < want {
		return fmt.Errorf("%d of %d workers READY", ready, want)
	}
	return nil
}
