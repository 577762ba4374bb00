package state

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func TestTasksWithNetworksWaitForTheAllocator(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNetwork, Network: &model.Network{ID: "n1", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "net"}, Driver: model.DriverOverlay}}})
	plain := testService("s1", "plain", 1)
	withNet := testService("s2", "with-net", 1)
	withNet.Spec.Task.Networks = []model.NetworkAttachmentConfig{{Target: "n1"}}
	a.mustApply(Op{Type: OpCreateService, Service: plain}, Op{Type: OpCreateService, Service: withNet})
	a.mustApply(
		Op{Type: OpCreateTasks, ID: "s1", SpecVersion: a.service("s1").SpecVersion.Index, NewTasks: []NewTask{{ID: "t1", Slot: 1}}},
		Op{Type: OpCreateTasks, ID: "s2", SpecVersion: a.service("s2").SpecVersion.Index, NewTasks: []NewTask{{ID: "t2", Slot: 1}, {ID: "t3", Slot: 2}}},
	)
	task := func(id string) *model.Task {
		var t *model.Task
		_ = a.s.View(func(tx ReadTx) error { t = tx.GetTask(id); return nil })
		return t
	}
	if s := task("t1").Status; s.State != model.TaskStatePending {
		t.Fatalf("a task without networks is %v", s.State)
	}
	if s := task("t2").Status; s.State != model.TaskStateNew || s.Message != MessageWaitingForNetworks {
		t.Fatalf("a task with networks is %v %q", s.State, s.Message)
	}
	// A reason on a NEW task (the allocator's), then its attachments.
	a.mustApply(Op{Type: OpTaskPending, Pending: []PendingReason{{TaskID: "t2", Message: "waiting for network allocation: full"}}})
	if m := task("t2").Status.Message; m != "waiting for network allocation: full" {
		t.Fatalf("message %q", m)
	}
	// t3 is told to stop first: the allocator's write skips it.
	a.mustApply(Op{Type: OpSetTasksDesired, IDs: []string{"t3"}, DesiredState: model.TaskStateShutdown})
	att := []model.NetworkAttachment{{NetworkID: "n1", Addresses: []string{"10.0.1.2/24"}, Aliases: []string{"with-net"}}}
	res := a.apply(Op{Type: OpAllocateTasks, TaskNetworks: []TaskNetworks{{TaskID: "t2", Networks: att}, {TaskID: "t3", Networks: att}, {TaskID: "t1", Networks: att}}})
	if res[0].Applied != 1 {
		t.Fatalf("applied %d, want 1 (t2 only)", res[0].Applied)
	}
	t2 := task("t2")
	if t2.Status.State != model.TaskStatePending || len(t2.Networks) != 1 || t2.Networks[0].Addresses[0] != "10.0.1.2/24" {
		t.Fatalf("t2 after allocation: %v %+v", t2.Status.State, t2.Networks)
	}
	// A second allocation of the same task is skipped.
	res = a.apply(Op{Type: OpAllocateTasks, TaskNetworks: []TaskNetworks{{TaskID: "t2", Networks: []model.NetworkAttachment{{NetworkID: "n1", Addresses: []string{"10.0.1.9/24"}}}}}})
	if res[0].Applied != 0 || task("t2").Networks[0].Addresses[0] != "10.0.1.2/24" {
		t.Fatal("an allocated task was allocated again")
	}
}

func TestAllocateOpsRefuseAStaleVersionAndKeepTheVersion(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNetwork, Network: &model.Network{ID: "n1", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "net"}, Driver: model.DriverOverlay}}})
	var n *model.Network
	_ = a.s.View(func(tx ReadTx) error { n = tx.GetNetwork("n1"); return nil })
	alloc := &model.Network{ID: "n1", VNI: 4096, IPAM: []model.IPAMConfig{{Subnet: "10.0.1.0/24", Gateway: "10.0.1.1"}}}
	if err := a.apply(Op{Type: OpAllocateNetwork, Network: alloc, Version: n.Version.Index + 1}).Err(); !errors.Is(err, ErrSequence) {
		t.Fatalf("stale version: %v", err)
	}
	a.mustApply(Op{Type: OpAllocateNetwork, Network: alloc, Version: n.Version.Index})
	var got *model.Network
	_ = a.s.View(func(tx ReadTx) error { got = tx.GetNetwork("n1"); return nil })
	if got.VNI != 4096 || got.IPAM[0].Subnet != "10.0.1.0/24" || got.Version != n.Version {
		t.Fatalf("after allocation: VNI %d IPAM %+v version %v (was %v)", got.VNI, got.IPAM, got.Version, n.Version)
	}

	a.mustApply(Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	s := a.service("s1")
	ep := &model.Endpoint{VirtualIPs: []model.EndpointVirtualIP{{NetworkID: "n1", Addr: "10.0.1.2/24"}}}
	if err := a.apply(Op{Type: OpAllocateService, Service: &model.Service{ID: "s1", Endpoint: ep}, Version: s.Version.Index - 1}).Err(); !errors.Is(err, ErrSequence) {
		t.Fatalf("stale service version: %v", err)
	}
	a.mustApply(Op{Type: OpAllocateService, Service: &model.Service{ID: "s1", Endpoint: ep}, Version: s.Version.Index})
	if got := a.service("s1"); got.Endpoint == nil || got.Endpoint.VirtualIPs[0].Addr != "10.0.1.2/24" || got.Version != s.Version || got.Spec.Name != "web" {
		t.Fatalf("service after allocation: %+v", got)
	}

	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "node1", Spec: model.NodeSpec{Annotations: model.Annotations{Name: "x"}}}})
	var node *model.Node
	_ = a.s.View(func(tx ReadTx) error { node = tx.GetNode("node1"); return nil })
	atts := []model.NodeNetworkAttachment{{NetworkID: "n1", Address: "10.0.1.3/24"}}
	a.mustApply(Op{Type: OpAllocateNode, Node: &model.Node{ID: "node1", Attachments: atts}, Version: node.Version.Index})
	_ = a.s.View(func(tx ReadTx) error { node = tx.GetNode("node1"); return nil })
	if len(node.Attachments) != 1 || node.Spec.Name != "x" {
		t.Fatalf("node after allocation: %+v", node)
	}
}

func TestCreateNetworkRefusesASubnetItCannotHave(t *testing.T) {
	a := newApplier(t)
	spec := model.DefaultClusterSpec()
	spec.DefaultAddrPool, spec.SubnetSize = []string{"10.20.0.0/23"}, 24
	a.mustApply(Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: "c", Spec: spec}})
	net := func(id, subnet string) *model.Network {
		n := &model.Network{ID: id, Spec: model.NetworkSpec{Annotations: model.Annotations{Name: id}, Driver: model.DriverOverlay}}
		if subnet != "" {
			n.Spec.IPAM = &model.IPAMOptions{Configs: []model.IPAMConfig{{Subnet: subnet}}}
		}
		return n
	}
	for _, tc := range []struct {
		network *model.Network
		err     error
		msg     string
	}{
		{net("explicit", "172.28.0.0/16"), nil, ""},
		{net("inside", "172.28.5.0/24"), ErrConflict, "network inside: subnet 172.28.5.0/24 overlaps subnet 172.28.0.0/16 of network explicit"},
		{net("p1", ""), nil, ""},
		{net("p2", ""), nil, ""},
		{net("p3", ""), ErrConflict, "network p3: pool exhausted: no free /24 subnet left in address pools 10.20.0.0/23"},
		{net("squeeze", "10.20.1.0/25"), ErrConflict, "would leave no subnet in the cluster's address pool for the 2 networks waiting for one"},
		{net("elsewhere", "192.168.3.0/24"), nil, ""},
		{net("bad", "10.1.2.3/33"), ErrInvalid, "network bad: subnet"},
	} {
		err := a.apply(Op{Type: OpCreateNetwork, Network: tc.network}).Err()
		if tc.err == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.network.ID, err)
			}
			continue
		}
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v with %q", tc.network.ID, err, tc.err, tc.msg)
		}
	}
}
