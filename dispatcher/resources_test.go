package dispatcher_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// addTasks creates a service with a spec changed by mutate and its tasks,
// gives them attachments (as the allocator would) and assigns them to
// nodes, round robin.
func (h *harness) addTasks(name string, mutate func(*model.ServiceSpec), atts func(i int) []model.NetworkAttachment, nodes ...string) []string {
	h.t.Helper()
	l := h.leader()
	svc := &model.Service{ID: "svc-" + name, Spec: model.ServiceSpec{
		Annotations: model.Annotations{Name: name},
		Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "shoal/demoapp:test"}},
		Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: uint64(len(nodes))}},
	}}
	mutate(&svc.Spec)
	h.propose(l, state.Op{Type: state.OpCreateService, Service: svc})
	var specVersion uint64
	_ = l.Store.View(func(tx state.ReadTx) error { specVersion = tx.GetService(svc.ID).SpecVersion.Index; return nil })
	var nts []state.NewTask
	var as []state.Assignment
	var tns []state.TaskNetworks
	var ids []string
	for i, n := range nodes {
		id := model.NewID()
		ids = append(ids, id)
		nts = append(nts, state.NewTask{ID: id, Slot: uint64(i + 1)})
		as = append(as, state.Assignment{TaskID: id, NodeID: n})
		if atts != nil {
			tns = append(tns, state.TaskNetworks{TaskID: id, Networks: atts(i)})
		}
	}
	ops := []state.Op{{Type: state.OpCreateTasks, ID: svc.ID, SpecVersion: specVersion, NewTasks: nts}}
	if len(tns) > 0 {
		ops = append(ops, state.Op{Type: state.OpAllocateTasks, TaskNetworks: tns})
	}
	ops = append(ops, state.Op{Type: state.OpAssignTasks, Assignments: as})
	h.propose(l, ops...)
	return ids
}

func secretIDs(s *protocol.Secrets) (secrets, configs []string) {
	for _, x := range s.Secrets {
		secrets = append(secrets, x.ID)
	}
	for _, x := range s.Configs {
		configs = append(configs, x.ID)
	}
	return secrets, configs
}

func TestNodeGetsExactlyTheSecretsItsTasksReference(t *testing.T) {
	h := newHarness(t, 3, time.Second, nil)
	h.addNode("worker-a")
	h.addNode("worker-b")
	secret := func(id string) *model.Secret {
		return &model.Secret{ID: id, Spec: model.SecretSpec{Annotations: model.Annotations{Name: id}, Data: []byte("data of " + id)}}
	}
	h.propose(h.leader(),
		state.Op{Type: state.OpCreateSecret, Secret: secret("s1")},
		state.Op{Type: state.OpCreateSecret, Secret: secret("s2")},
		state.Op{Type: state.OpCreateSecret, Secret: secret("s3")},
		state.Op{Type: state.OpCreateConfig, Config: &model.Config{ID: "c1", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "c1"}, Data: []byte("conf")}}},
	)
	ref := func(id string) model.SecretReference {
		return model.SecretReference{SecretID: id, SecretName: id, File: model.FileTarget{Name: id, UID: "0", GID: "0", Mode: 0o444}}
	}
	h.addTasks("a", func(s *model.ServiceSpec) {
		s.Task.Container.Secrets = []model.SecretReference{ref("s1")}
		s.Task.Container.Configs = []model.ConfigReference{{ConfigID: "c1", ConfigName: "c1", File: model.FileTarget{Name: "/c1"}}}
	}, nil, "worker-a")
	bTasks := h.addTasks("b", func(s *model.ServiceSpec) {
		s.Task.Container.Secrets = []model.SecretReference{ref("s2")}
	}, nil, "worker-b", "worker-a")

	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	first := n.next(protocol.MessageSecrets, waitTimeout).Secrets
	secrets, configs := secretIDs(first)
	if !slices.Equal(secrets, []string{"s1", "s2"}) || !slices.Equal(configs, []string{"c1"}) {
		t.Fatalf("worker-a got secrets %v and configs %v, want [s1 s2] and [c1]", secrets, configs)
	}
	if string(first.Secrets[0].Spec.Data) != "data of s1" {
		t.Fatalf("secret data %q", first.Secrets[0].Spec.Data)
	}
	// The secrets come before the assignments that need them.
	if a := n.next(protocol.MessageAssignments, waitTimeout).Assignments; !a.Full || len(a.Tasks) != 2 {
		t.Fatalf("assignments %+v", a)
	}

	// The task of b on worker-a stops: s2 is no longer sent to it.
	h.propose(h.leader(), state.Op{Type: state.OpSetTasksDesired, IDs: []string{bTasks[1]}, DesiredState: model.TaskStateShutdown})
	secrets, configs = secretIDs(n.next(protocol.MessageSecrets, waitTimeout).Secrets)
	if !slices.Equal(secrets, []string{"s1"}) || !slices.Equal(configs, []string{"c1"}) {
		t.Fatalf("after the stop worker-a has secrets %v and configs %v, want [s1] and [c1]", secrets, configs)
	}

	// worker-b never sees s1, s3 or c1.
	nb := h.newTestNode("worker-b")
	if err := nb.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	secrets, configs = secretIDs(nb.next(protocol.MessageSecrets, waitTimeout).Secrets)
	if !slices.Equal(secrets, []string{"s2"}) || len(configs) != 0 {
		t.Fatalf("worker-b got secrets %v and configs %v, want [s2] and none", secrets, configs)
	}
}

func TestNodeGetsTheViewOfItsNetworks(t *testing.T) {
	h := newHarness(t, 3, time.Second, nil)
	for _, id := range []string{"worker-a", "worker-b", "worker-c"} {
		h.addNode(id)
	}
	net := func(id, subnet string, vni uint32) {
		h.propose(h.leader(), state.Op{Type: state.OpCreateNetwork, Network: &model.Network{ID: id,
			Spec: model.NetworkSpec{Annotations: model.Annotations{Name: id}, Driver: model.DriverOverlay}}})
		var v uint64
		_ = h.leader().Store.View(func(tx state.ReadTx) error { v = tx.GetNetwork(id).Version.Index; return nil })
		h.propose(h.leader(), state.Op{Type: state.OpAllocateNetwork, Version: v,
			Network: &model.Network{ID: id, VNI: vni, IPAM: []model.IPAMConfig{{Subnet: subnet}}}})
	}
	net("n1", "10.0.1.0/24", 4097)
	net("n2", "10.0.2.0/24", 4098)
	addrs := []string{"10.0.1.3/24", "10.0.1.4/24"}
	webTasks := h.addTasks("web", func(s *model.ServiceSpec) {
		s.Task.Networks = []model.NetworkAttachmentConfig{{Target: "n1", Aliases: []string{"web"}}}
	}, func(i int) []model.NetworkAttachment {
		return []model.NetworkAttachment{{NetworkID: "n1", Addresses: []string{addrs[i]}, Aliases: []string{"web"}}}
	}, "worker-a", "worker-b")
	h.addTasks("other", func(s *model.ServiceSpec) {
		s.Task.Networks = []model.NetworkAttachmentConfig{{Target: "n2"}}
	}, func(int) []model.NetworkAttachment {
		return []model.NetworkAttachment{{NetworkID: "n2", Addresses: []string{"10.0.2.3/24"}}}
	}, "worker-c")
	var sv uint64
	_ = h.leader().Store.View(func(tx state.ReadTx) error { sv = tx.GetService("svc-web").Version.Index; return nil })
	h.propose(h.leader(), state.Op{Type: state.OpAllocateService, Version: sv, Service: &model.Service{ID: "svc-web",
		Endpoint: &model.Endpoint{VirtualIPs: []model.EndpointVirtualIP{{NetworkID: "n1", Addr: "10.0.1.2/24"}}}}})
	var nv uint64
	_ = h.leader().Store.View(func(tx state.ReadTx) error { nv = tx.GetNode("worker-a").Version.Index; return nil })
	h.propose(h.leader(), state.Op{Type: state.OpAllocateNode, Version: nv, Node: &model.Node{ID: "worker-a",
		Attachments: []model.NodeNetworkAttachment{{NetworkID: "n1", Address: "10.0.1.5/24"}}}})

	n := h.newTestNode("worker-a")
	if err := n.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	v := n.next(protocol.MessageNetworks, waitTimeout).Networks
	if len(v.Networks) != 1 {
		t.Fatalf("worker-a sees %d networks, want n1 only: %+v", len(v.Networks), v)
	}
	ns := v.Networks[0]
	if ns.Network.ID != "n1" || ns.Network.VNI != 4097 || ns.LBAddress != "10.0.1.5/24" {
		t.Fatalf("n1 as worker-a sees it: network %+v, LB %q", ns.Network, ns.LBAddress)
	}
	var eps []string
	for _, e := range ns.Endpoints {
		eps = append(eps, e.NodeID+"="+e.Addresses[0])
	}
	slices.Sort(eps)
	if !slices.Equal(eps, []string{"worker-a=10.0.1.3/24", "worker-b=10.0.1.4/24"}) {
		t.Fatalf("endpoints %v", eps)
	}
	var peers []string
	for _, p := range ns.Peers {
		peers = append(peers, p.NodeID)
	}
	if !slices.Equal(peers, []string{"worker-a", "worker-b"}) {
		t.Fatalf("peers %v", peers)
	}
	if len(ns.Services) != 1 || ns.Services[0].ServiceName != "web" || ns.Services[0].Addr != "10.0.1.2/24" {
		t.Fatalf("services %+v", ns.Services)
	}

	// The session made worker-a READY from 127.0.0.1: peers see its
	// underlay address change.
	for p := v.Networks[0].Peers; p[0].NodeID != "worker-a" || p[0].Addr != "127.0.0.1"; p = v.Networks[0].Peers {
		v = n.next(protocol.MessageNetworks, waitTimeout).Networks
	}
	for _, e := range v.Networks[0].Endpoints {
		if e.Running {
			t.Fatalf("endpoint %s is running before any status report", e.TaskID)
		}
	}
	// worker-a's task reports running: its endpoint's Running changes
	// (names and load balancing follow it).
	report := func(msg string) {
		t.Helper()
		if err := n.client.ReportStatus(context.Background(), protocol.StatusRequest{SessionID: n.session, Updates: []model.TaskStatusUpdate{
			{TaskID: webTasks[0], Status: model.TaskStatus{State: model.TaskStateRunning, Message: msg}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	report("started")
	v = n.next(protocol.MessageNetworks, waitTimeout).Networks
	for _, e := range v.Networks[0].Endpoints {
		if e.Running != (e.TaskID == webTasks[0]) {
			t.Fatalf("after the report: endpoint %s running=%v", e.TaskID, e.Running)
		}
	}
	// Another report of the running task: nothing a node sees changes, so
	// no view is sent (the next one must be the one below, with 3
	// endpoints).
	report("still running")
	waitFor(t, waitTimeout, "the report applied", func() bool { return h.task(webTasks[0]).Status.Message == "still running" })
	// A new task of web on worker-b: worker-a's view changes.
	h.addTasks("web2", func(s *model.ServiceSpec) {
		s.Task.Networks = []model.NetworkAttachmentConfig{{Target: "n1"}}
	}, func(int) []model.NetworkAttachment {
		return []model.NetworkAttachment{{NetworkID: "n1", Addresses: []string{"10.0.1.6/24"}}}
	}, "worker-b")
	v = n.next(protocol.MessageNetworks, waitTimeout).Networks
	if len(v.Networks) != 1 || len(v.Networks[0].Endpoints) != 3 {
		t.Fatalf("after a new task worker-a sees %+v", v)
	}

	// worker-c sees n2 only.
	nc := h.newTestNode("worker-c")
	if err := nc.open(h.addr(h.leader().ID)); err != nil {
		t.Fatal(err)
	}
	vc := nc.next(protocol.MessageNetworks, waitTimeout).Networks
	if len(vc.Networks) != 1 || vc.Networks[0].Network.ID != "n2" {
		t.Fatalf("worker-c sees %+v", vc)
	}
}
