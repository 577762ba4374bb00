package dockerexec_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/agent/exec/dockerexec"
	"github.com/shoal-dev/shoal/agent/netplane"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// TestTaskOnTwoNetworks: a task on two networks is created on the first
// with its allocated address and connected to the second before it
// starts; Docker derives its MAC from the address (what the other hosts'
// static entries assume); it serves on both addresses.
func TestTaskOnTwoNetworks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the overlay plane's lock directory and netlink)")
	}
	h := newHarness(t)
	cfg := netplane.DefaultConfig()
	cfg.Docker = h.cli
	cfg.NodeID = h.nodeID
	cfg.LockDir = t.TempDir()
	cfg.UnderlayMTU = 1400
	plane, err := netplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := h.executor(h.nodeID, dockerexec.WithNetworkPlane(plane))
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	nets := []*model.Network{
		{ID: "ntwoa" + suffix, VNI: 5001, IPAM: []model.IPAMConfig{{Subnet: "198.18.80.0/24", Gateway: "198.18.80.1"}}},
		{ID: "ntwob" + suffix, VNI: 5002, IPAM: []model.IPAMConfig{{Subnet: "198.18.81.0/24", Gateway: "198.18.81.1"}}},
	}
	view := &protocol.NetworkView{}
	for _, n := range nets {
		n.Spec.Name = n.ID
		view.Networks = append(view.Networks, protocol.NetworkState{Network: n})
	}
	task := h.task("twonets", h.plain)
	task.Networks = []model.NetworkAttachment{
		{NetworkID: nets[0].ID, Addresses: []string{"198.18.80.7/24"}},
		{NetworkID: nets[1].ID, Addresses: []string{"198.18.81.9/24"}},
	}
	t.Cleanup(func() {
		removeNode(t, h.cli, h.nodeID)
		for _, n := range nets {
			_ = h.cli.NetworkRemove(context.Background(), netplane.DockerNetworkName(n.ID))
		}
	})
	ctlr, err := e.Controller(task)
	if err != nil {
		t.Fatal(err)
	}
	// Before the view: a temporary error, nothing made.
	if err := ctlr.Prepare(h.ctx); !exec.IsTemporary(err) {
		t.Fatalf("prepare before the view: %v, want a temporary error", err)
	}
	e.SetNetworks(view)
	h.drive(task, ctlr, model.TaskStateRunning)
	ctr := h.inspect(task)
	for i, want := range []struct{ ip, mac string }{{"198.18.80.7", "02:42:c6:12:50:07"}, {"198.18.81.9", "02:42:c6:12:51:09"}} {
		ep := ctr.NetworkSettings.Networks[netplane.DockerNetworkName(nets[i].ID)]
		if ep == nil || ep.IPAddress != want.ip || ep.MacAddress != want.mac {
			t.Fatalf("network %d: endpoint %+v, want %s %s", i, ep, want.ip, want.mac)
		}
		if body := h.get("http://" + want.ip + ":8080/"); len(body) == 0 {
			t.Fatalf("no answer on %s", want.ip)
		}
	}
}

// TestShutdownDrainsTheTaskFromTheLoadBalancersFirst: a running task on
// an overlay network is not stopped while the node's view lists it as a
// running endpoint (the load balancers may still send it connections);
// once a view without it comes, it keeps serving for the drain delay,
// then stops.
func TestShutdownDrainsTheTaskFromTheLoadBalancersFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the overlay plane's lock directory and netlink)")
	}
	h := newHarness(t)
	cfg := netplane.DefaultConfig()
	cfg.Docker = h.cli
	cfg.NodeID = h.nodeID
	cfg.LockDir = t.TempDir()
	cfg.UnderlayMTU = 1400
	plane, err := netplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const delay = 500 * time.Millisecond
	e := h.executor(h.nodeID, dockerexec.WithNetworkPlane(plane), dockerexec.WithDrainDelay(delay))
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	n := &model.Network{ID: "ndrain" + suffix, VNI: 5003, IPAM: []model.IPAMConfig{{Subnet: "198.18.82.0/24", Gateway: "198.18.82.1"}}}
	n.Spec.Name = n.ID
	task := h.task("drain", h.plain)
	task.Networks = []model.NetworkAttachment{{NetworkID: n.ID, Addresses: []string{"198.18.82.7/24"}}}
	t.Cleanup(func() {
		removeNode(t, h.cli, h.nodeID)
		_ = h.cli.NetworkRemove(context.Background(), netplane.DockerNetworkName(n.ID))
	})
	listed := &protocol.NetworkView{Networks: []protocol.NetworkState{{Network: n, Endpoints: []protocol.TaskEndpoint{
		{TaskID: task.ID, ServiceID: task.ServiceID, NodeID: h.nodeID, Addresses: task.Networks[0].Addresses, Running: true},
	}}}}
	e.SetNetworks(listed)
	ctlr, err := e.Controller(task)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlr.Close()
	h.drive(task, ctlr, model.TaskStateRunning)

	done := make(chan error, 1)
	go func() { done <- ctlr.Shutdown(h.ctx) }()
	// Listed: it keeps running (a lower bound, not a speed: the drain
	// waits for the view up to 5 s).
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while the view still lists the task", err)
	case <-time.After(time.Second):
	}
	if ctr := h.inspect(task); !ctr.State.Running {
		t.Fatal("the container stopped while the view still lists the task")
	}
	// The manager's view without it: it serves for the drain delay, then
	// stops.
	unlisted := time.Now()
	e.SetNetworks(&protocol.NetworkView{Networks: []protocol.NetworkState{{Network: n}}})
	if body := h.get("http://198.18.82.7:8080/"); len(body) == 0 {
		t.Fatal("no answer while draining")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(unlisted); took < delay {
		t.Errorf("stopped %v after the view dropped the task, before the drain delay %v", took, delay)
	}
	if ctr := h.inspect(task); ctr.State.Running {
		t.Error("still running after Shutdown")
	}
}
