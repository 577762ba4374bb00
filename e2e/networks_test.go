package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/internal/proctest"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/node"
)

// TestServiceOnANetworkRunsWithItsAllocatedAddress runs a real manager
// process (with its agent on the local engine): `manager init` made the
// ingress network; a service on an overlay network gets a VIP and its
// task an address from the allocator, and the node runs the task's
// container on its network with exactly that address.
func TestServiceOnANetworkRunsWithItsAllocatedAddress(t *testing.T) {
	docker := testimage.Client(t)
	ctx := context.Background()
	img, err := testimage.Ensure(ctx, docker)
	if err != nil {
		t.Fatal(err)
	}
	c := proctest.New(t)
	m1 := c.InitManager("m1")
	// The node makes the network's Docker network and VXLAN device on
	// this machine's engine; killed, it cannot remove them. They go once
	// its containers are gone (Docker refuses to remove a network in use),
	// so that a later run's network does not overlap a leftover one.
	var netID string
	t.Cleanup(func() {
		m1.Kill()
		if st, err := node.Load(m1.DataDir); err == nil {
			removeNodeContainers(t, docker, []string{st.NodeID})
		}
		if netID != "" {
			if err := docker.NetworkRemove(context.Background(), "shoal-"+netID); err != nil && !strings.Contains(err.Error(), "not found") {
				t.Errorf("cleanup: removing the node's Docker network: %v", err)
			}
			_ = exec.Command("ip", "link", "del", "shx"+netID[:12]).Run()
		}
	})
	m1.WaitReady(joinTimeout)
	cl := m1.Client()

	nets, err := cl.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", "ingress"))})
	if err != nil || len(nets) != 1 || !nets[0].Ingress {
		t.Fatalf("the ingress network after init: %+v, %v", nets, err)
	}
	name := "e2e-net-" + randomSuffix()
	netResp, err := cl.NetworkCreate(ctx, name, network.CreateOptions{Driver: "overlay"})
	if err != nil {
		t.Fatal(err)
	}
	netID = netResp.ID
	replicas := uint64(1)
	svc, err := cl.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: img},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: name}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var task swarm.Task
	eventually(t, time.Minute, "the task running", func(ctx context.Context) error {
		tasks, err := cl.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", svc.ID))})
		if err != nil {
			return err
		}
		for _, tk := range tasks {
			if tk.Status.State == swarm.TaskStateRunning && tk.Status.ContainerStatus != nil {
				task = tk
				return nil
			}
			if tk.Status.Err != "" {
				return fmt.Errorf("task %s: %s: %s", tk.ID, tk.Status.State, tk.Status.Err)
			}
		}
		return fmt.Errorf("tasks %d, none running yet", len(tasks))
	})
	if len(task.NetworksAttachments) != 1 || len(task.NetworksAttachments[0].Addresses) != 1 {
		t.Fatalf("task attachments %+v", task.NetworksAttachments)
	}
	addr := task.NetworksAttachments[0].Addresses[0]
	ip, _, _ := strings.Cut(addr, "/")
	ctr, err := docker.ContainerInspect(ctx, task.Status.ContainerStatus.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for name, ep := range ctr.NetworkSettings.Networks {
		if ep.IPAddress == ip {
			found = true
			t.Logf("container on %s with %s", name, ep.IPAddress)
		}
	}
	if !found {
		t.Fatalf("container %s has no endpoint with the allocated address %s: %+v", ctr.ID, addr, ctr.NetworkSettings.Networks)
	}
	s, _, err := cl.ServiceInspectWithRaw(ctx, svc.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Endpoint.VirtualIPs) != 1 || s.Endpoint.VirtualIPs[0].NetworkID != netResp.ID {
		t.Fatalf("service VIPs %+v", s.Endpoint.VirtualIPs)
	}
	t.Logf("task %s: address %s; service VIP %s", task.ID, addr, s.Endpoint.VirtualIPs[0].Addr)
	if err := cl.ServiceRemove(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	// The node's load balancer (in this machine's namespace) removes the
	// VIP's rules once the service is gone, before the node is killed.
	vip := strings.TrimSuffix(s.Endpoint.VirtualIPs[0].Addr, "/24")
	eventually(t, time.Minute, "the VIP's rules removed", func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "iptables-save").Output()
		if err != nil {
			return nil // no iptables here: nothing was written either
		}
		if strings.Contains(string(out), vip+"/32") {
			return fmt.Errorf("rules of %s still there", vip)
		}
		return nil
	})
}
