package allocator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/allocator/ipam"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

func ingressPort(target, published uint32) model.PortConfig {
	return model.PortConfig{Protocol: "tcp", TargetPort: target, PublishedPort: published, PublishMode: model.PublishModeIngress}
}

func TestAllocatesNetworksServicesTasksAndNodes(t *testing.T) {
	e := newEnv(t, model.DefaultClusterSpec())
	e.must(
		state.Op{Type: state.OpCreateNetwork, Network: ingressNetwork()},
		state.Op{Type: state.OpCreateNetwork, Network: network("net1", "app_default", "")},
		state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: "node1", Spec: model.NodeSpec{Availability: model.AvailabilityActive}}},
	)
	e.start()
	e.must(state.Op{Type: state.OpCreateService, Service: service("svc1", "web", 3, []string{"net1"}, ingressPort(80, 0), ingressPort(443, 8443))})
	tasks := e.createTasks("svc1", 0, 3)
	e.view(func(tx state.ReadTx) {
		if s := tx.GetTask(tasks[0]).Status; s.State != model.TaskStateNew || s.Message != state.MessageWaitingForNetworks {
			t.Fatalf("a task of a service with networks starts %v %q", s.State, s.Message)
		}
	})

	e.eventually("tasks allocated and pending", func(tx state.ReadTx) error {
		for _, id := range tasks {
			task := tx.GetTask(id)
			if task.Status.State != model.TaskStatePending || len(task.Networks) != 2 {
				return fmt.Errorf("task %s: %v %q, %d attachments", id, task.Status.State, task.Status.Message, len(task.Networks))
			}
		}
		s := tx.GetService("svc1")
		if s.Endpoint == nil || len(s.Endpoint.VirtualIPs) != 2 {
			return fmt.Errorf("service endpoint %+v", s.Endpoint)
		}
		return nil
	})
	e.view(func(tx state.ReadTx) {
		n := tx.GetNetwork("net1")
		if n.VNI < ipam.MinVXLANID || n.IPAM[0].Subnet != "10.0.1.0/24" || n.IPAM[0].Gateway != "10.0.1.1" {
			t.Errorf("app network: VNI %d, IPAM %+v (want 10.0.1.0/24: 10.0.0.0/24 is ingress's)", n.VNI, n.IPAM)
		}
		in := tx.GetNetwork(ingressNetwork().ID)
		if in.IPAM[0].Subnet != ipam.IngressSubnet {
			t.Errorf("ingress IPAM %+v", in.IPAM)
		}
		s := tx.GetService("svc1")
		if got := s.Endpoint.VirtualIPs[0]; got.NetworkID != "net1" || !strings.HasPrefix(got.Addr, "10.0.1.") || !strings.HasSuffix(got.Addr, "/24") {
			t.Errorf("VIP on net1: %+v", got)
		}
		if got := s.Endpoint.VirtualIPs[1]; got.NetworkID != in.ID {
			t.Errorf("second VIP %+v, want one on ingress", got)
		}
		if p := s.Endpoint.Ports[0].PublishedPort; p < ipam.DynamicPortStart || p > ipam.DynamicPortEnd {
			t.Errorf("dynamic published port %d", p)
		}
		if p := s.Endpoint.Ports[1].PublishedPort; p != 8443 {
			t.Errorf("explicit published port %d", p)
		}
		task := tx.GetTask(tasks[0])
		if a := task.Networks[0]; a.NetworkID != "net1" || len(a.Aliases) != 1 || a.Aliases[0] != "web" {
			t.Errorf("attachment %+v", a)
		}
		checkNoDoubleAllocation(t, tx)
	})

	// Assigned tasks give their node a load-balancer address on their
	// networks (and, as a service publishes ingress ports, on ingress).
	e.must(state.Op{Type: state.OpAssignTasks, Assignments: []state.Assignment{{TaskID: tasks[0], NodeID: "node1"}}})
	e.eventually("node attachments", func(tx state.ReadTx) error {
		if n := tx.GetNode("node1"); len(n.Attachments) != 2 {
			return fmt.Errorf("node attachments %+v", n.Attachments)
		}
		return nil
	})
	e.view(func(tx state.ReadTx) { checkNoDoubleAllocation(t, tx) })

	// An update keeps the dynamic port and the VIPs.
	var before *model.Service
	e.view(func(tx state.ReadTx) { before = tx.GetService("svc1") })
	upd := before.Copy()
	upd.Spec.Labels = map[string]string{"x": "y"}
	e.must(state.Op{Type: state.OpUpdateService, Service: upd, Version: before.Version.Index})
	e.view(func(tx state.ReadTx) {
		if s := tx.GetService("svc1"); s.Endpoint.Ports[0].PublishedPort != before.Endpoint.Ports[0].PublishedPort {
			t.Errorf("an update changed the dynamic port: %d -> %d", before.Endpoint.Ports[0].PublishedPort, s.Endpoint.Ports[0].PublishedPort)
		}
	})
}

func TestServiceWithoutNetworksIsNotTouched(t *testing.T) {
	e := newEnv(t, model.DefaultClusterSpec())
	e.must(state.Op{Type: state.OpCreateNetwork, Network: ingressNetwork()})
	e.start()
	e.must(state.Op{Type: state.OpCreateService, Service: service("svc1", "plain", 2, nil)})
	tasks := e.createTasks("svc1", 0, 2)
	e.eventually("ingress allocated", func(tx state.ReadTx) error {
		if !allocated(tx.GetNetwork(ingressNetwork().ID)) {
			return errors.New("ingress not allocated")
		}
		return nil
	})
	e.view(func(tx state.ReadTx) {
		if s := tx.GetService("svc1"); s.Endpoint != nil {
			t.Errorf("a service without networks or ports got an endpoint %+v", s.Endpoint)
		}
		if task := tx.GetTask(tasks[0]); task.Status.State != model.TaskStatePending || len(task.Networks) != 0 {
			t.Errorf("task %v with %d attachments", task.Status.State, len(task.Networks))
		}
	})
}

func TestTaskAddressFreedOnlyOnceTheTaskHasStopped(t *testing.T) {
	e := newEnv(t, model.DefaultClusterSpec())
	// A /29 has 6 host addresses: the gateway, the service's VIP and 4
	// tasks.
	e.must(
		state.Op{Type: state.OpCreateNetwork, Network: network("tiny", "tiny", "192.168.9.0/29")},
		state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: "node1"}},
	)
	e.start()
	e.must(state.Op{Type: state.OpCreateService, Service: service("svc1", "web", 6, []string{"tiny"})})
	tasks := e.createTasks("svc1", 0, 6)
	var full []string
	e.eventually("4 tasks allocated, 2 refused with a clear message", func(tx state.ReadTx) error {
		full = full[:0]
		n := 0
		for _, id := range tasks {
			task := tx.GetTask(id)
			switch {
			case len(task.Networks) > 0:
				n++
			case strings.Contains(task.Status.Message, "no free address left in subnet 192.168.9.0/29"):
				full = append(full, id)
			}
		}
		if n != 4 || len(full) != 2 {
			return fmt.Errorf("%d allocated, %d refused", n, len(full))
		}
		return nil
	})
	e.view(func(tx state.ReadTx) {
		task := tx.GetTask(full[0])
		t.Logf("refused task: %v %q", task.Status.State, task.Status.Message)
		if task.Status.State != model.TaskStateNew {
			t.Errorf("a task without addresses is %v, want new (not schedulable)", task.Status.State)
		}
		checkNoDoubleAllocation(t, tx)
	})

	// Told to shut down, a running task keeps its address until it has
	// stopped.
	var victim *model.Task
	e.view(func(tx state.ReadTx) {
		for _, id := range tasks {
			if task := tx.GetTask(id); len(task.Networks) > 0 {
				victim = task
				break
			}
		}
	})
	e.must(state.Op{Type: state.OpAssignTasks, Assignments: []state.Assignment{{TaskID: victim.ID, NodeID: "node1"}}})
	e.must(state.Op{Type: state.OpTaskStatus, ID: "node1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: victim.ID, Status: model.TaskStatus{State: model.TaskStateRunning}}}})
	e.must(state.Op{Type: state.OpSetTasksDesired, IDs: []string{victim.ID}, DesiredState: model.TaskStateShutdown})
	// The subnet is full: the node's load-balancer address waits too.
	// What matters: the refused tasks still have nothing.
	e.view(func(tx state.ReadTx) {
		for _, id := range full {
			if len(tx.GetTask(id).Networks) > 0 {
				t.Fatalf("task %s got an address while the holder still runs", id)
			}
		}
	})
	e.must(state.Op{Type: state.OpTaskStatus, ID: "node1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: victim.ID, Status: model.TaskStatus{State: model.TaskStateShutdown}}}})
	e.eventually("a refused task got the freed address", func(tx state.ReadTx) error {
		for _, id := range full {
			if len(tx.GetTask(id).Networks) > 0 {
				return nil
			}
		}
		return errors.New("no refused task got an address")
	})
	e.view(func(tx state.ReadTx) { checkNoDoubleAllocation(t, tx) })
}

func TestSubnetPoolExhaustionAndOverlapAreRefusedAtCreate(t *testing.T) {
	spec := model.DefaultClusterSpec()
	spec.DefaultAddrPool, spec.SubnetSize = []string{"10.20.0.0/23"}, 24
	e := newEnv(t, spec)
	e.start()
	e.must(
		state.Op{Type: state.OpCreateNetwork, Network: network("n1", "one", "")},
		state.Op{Type: state.OpCreateNetwork, Network: network("n2", "two", "")},
	)
	create := func(n *model.Network) error {
		res, err := e.p.Propose(context.Background(), state.NewCommand(state.Op{Type: state.OpCreateNetwork, Network: n}))
		if err == nil {
			err = res.Err()
		}
		return err
	}
	e.eventually("both allocated", func(tx state.ReadTx) error {
		if !allocated(tx.GetNetwork("n1")) || !allocated(tx.GetNetwork("n2")) {
			return errors.New("not yet")
		}
		return nil
	})
	err := create(network("n3", "three", ""))
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "network three: pool exhausted: no free /24 subnet left in address pools 10.20.0.0/23") {
		t.Fatalf("a third /24 out of a /23: %v", err)
	}
	t.Logf("refused: %v", err)
	err = create(network("x", "explicit", "10.20.1.128/25"))
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "overlaps subnet 10.20.1.0/24 of network two") {
		t.Fatalf("an overlapping subnet: %v", err)
	}
	t.Logf("refused: %v", err)
	// Deleting a network frees its subnet.
	e.must(state.Op{Type: state.OpDeleteNetwork, ID: "n1"})
	e.must(state.Op{Type: state.OpCreateNetwork, Network: network("n3", "three", "")})
	e.must(state.Op{Type: state.OpCreateService, Service: service("svc3", "on-three", 1, []string{"n3"})})
	tasks := e.createTasks("svc3", 0, 1)
	e.eventually("n3 allocated and its task pending", func(tx state.ReadTx) error {
		if n := tx.GetNetwork("n3"); !allocated(n) || n.IPAM[0].Subnet != "10.20.0.0/24" {
			return fmt.Errorf("n3 %+v", n.IPAM)
		}
		if s := tx.GetTask(tasks[0]).Status.State; s != model.TaskStatePending {
			return fmt.Errorf("task %v", s)
		}
		return nil
	})
	e.view(func(tx state.ReadTx) { checkNoDoubleAllocation(t, tx) })
}

// TestRestartRebuildsFromTheStore stops the allocator (a leader change)
// between rounds of work and checks that nothing is given out twice.
func TestRestartRebuildsFromTheStore(t *testing.T) {
	e := newEnv(t, model.DefaultClusterSpec())
	e.must(state.Op{Type: state.OpCreateNetwork, Network: ingressNetwork()})
	var all []string
	for round := range 4 {
		e.start()
		net := fmt.Sprintf("net%d", round)
		svc := fmt.Sprintf("svc%d", round)
		e.must(state.Op{Type: state.OpCreateNetwork, Network: network(net, net, "")})
		e.must(state.Op{Type: state.OpCreateService, Service: service(svc, svc, 5, []string{net, "net0"}, ingressPort(80, 0))})
		all = append(all, e.createTasks(svc, 0, 5)...)
		e.eventually("all allocated", func(tx state.ReadTx) error {
			for _, id := range all {
				if len(tx.GetTask(id).Networks) == 0 {
					return fmt.Errorf("task %s: %q", id, tx.GetTask(id).Status.Message)
				}
			}
			return nil
		})
		e.view(func(tx state.ReadTx) { checkNoDoubleAllocation(t, tx) })
		// Half the tasks of this round stop: their addresses come free
		// for the next term.
		for _, id := range all[len(all)-5 : len(all)-2] {
			e.must(state.Op{Type: state.OpDeleteTasks, IDs: []string{id}})
		}
		all = append(all[:len(all)-5], all[len(all)-2:]...)
	}
	var n int
	e.view(func(tx state.ReadTx) { n = checkNoDoubleAllocation(t, tx) })
	t.Logf("%d addresses held, none twice", n)
	if n == 0 {
		t.Fatal("nothing allocated")
	}
}
