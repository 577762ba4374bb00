package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func testNetwork(id, name string) *model.Network {
	return &model.Network{ID: id, Spec: model.NetworkSpec{Annotations: model.Annotations{Name: name}}}
}

func (a *applier) network(id string) *model.Network {
	var n *model.Network
	_ = a.s.View(func(tx ReadTx) error { n = tx.GetNetwork(id); return nil })
	return n
}

func (a *applier) secret(id string) *model.Secret {
	var s *model.Secret
	_ = a.s.View(func(tx ReadTx) error { s = tx.GetSecret(id); return nil })
	return s
}

// serviceWith returns a service that uses network net, secret sec,
// config cfg (each if not empty) and publishes ports.
func serviceWith(id, name, net, sec, cfg string, ports ...model.PortConfig) *model.Service {
	s := testService(id, name, 1)
	if net != "" {
		s.Spec.Task.Networks = []model.NetworkAttachmentConfig{{Target: net, Aliases: []string{name}}}
	}
	if sec != "" {
		s.Spec.Task.Container.Secrets = []model.SecretReference{{SecretID: sec, SecretName: "sec", File: model.FileTarget{Name: "sec", UID: "0", GID: "0", Mode: 0o444}}}
	}
	if cfg != "" {
		s.Spec.Task.Container.Configs = []model.ConfigReference{{ConfigID: cfg, ConfigName: "cfg", File: model.FileTarget{Name: "/cfg", Mode: 0o444}}}
	}
	if len(ports) > 0 {
		s.Spec.Endpoint = &model.EndpointSpec{Ports: ports}
	}
	return s
}

func ingressPort(p uint32) model.PortConfig {
	return model.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: p, PublishMode: model.PublishModeIngress}
}

func hostPort(p uint32) model.PortConfig {
	return model.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: p, PublishMode: model.PublishModeHost}
}

// TestNetworkSecretConfigRules applies operations in order to one store
// and checks each one's outcome: the preconditions of networks, secrets
// and configs and of the services that use them.
func TestNetworkSecretConfigRules(t *testing.T) {
	a := newApplier(t)
	a.mustApply(
		Op{Type: OpCreateNetwork, Network: testNetwork("net1", "Front")},
		Op{Type: OpCreateNetwork, Network: &model.Network{ID: "ing", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "ingress"}, Ingress: true}}},
		Op{Type: OpCreateSecret, Secret: &model.Secret{ID: "sec1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw"}, Data: []byte("hunter2")}}},
		Op{Type: OpCreateConfig, Config: &model.Config{ID: "cfg1", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "conf"}, Data: []byte("a=1")}}},
		Op{Type: OpCreateNode, Node: &model.Node{ID: "n1", Role: model.RoleWorker}},
	)
	if n := a.network("net1"); n.Spec.Driver != model.DriverOverlay || n.Version.Index != 1 {
		t.Fatalf("network after create: %+v", n)
	}

	steps := []struct {
		name    string
		ops     func() []Op
		wantErr error
		msg     string // part of the error's text
	}{
		{"network name taken, other case", func() []Op { return []Op{{Type: OpCreateNetwork, Network: testNetwork("net2", "FRONT")}} }, ErrNameConflict, "network with name FRONT already exists"},
		{"network ID taken", func() []Op { return []Op{{Type: OpCreateNetwork, Network: testNetwork("net1", "other")}} }, ErrExists, ""},
		{"network without name", func() []Op { return []Op{{Type: OpCreateNetwork, Network: testNetwork("net2", "")}} }, ErrInvalid, ""},
		{"second ingress network", func() []Op {
			return []Op{{Type: OpCreateNetwork, Network: &model.Network{ID: "ing2", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "ingress2"}, Ingress: true}}}}
		}, ErrConflict, "ingress network"},
		{"network renamed", func() []Op { return []Op{{Type: OpUpdateNetwork, Network: testNetwork("net1", "back"), Version: 1}} }, ErrInvalid, "renamed"},
		{"network update out of sequence", func() []Op { return []Op{{Type: OpUpdateNetwork, Network: testNetwork("net1", "Front"), Version: 7}} }, ErrSequence, ""},
		{"secret name taken", func() []Op {
			return []Op{{Type: OpCreateSecret, Secret: &model.Secret{ID: "sec2", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "PW"}, Data: []byte("x")}}}}
		}, ErrNameConflict, "secret PW already exists"},
		{"config name taken", func() []Op {
			return []Op{{Type: OpCreateConfig, Config: &model.Config{ID: "cfg2", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "conf"}, Data: []byte("x")}}}}
		}, ErrNameConflict, ""},
		{"secret data changed", func() []Op {
			return []Op{{Type: OpUpdateSecret, Secret: &model.Secret{ID: "sec1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw"}, Data: []byte("hunter3")}}, Version: 1}}
		}, ErrInvalid, MsgOnlyLabels},
		{"secret renamed", func() []Op {
			return []Op{{Type: OpUpdateSecret, Secret: &model.Secret{ID: "sec1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw2"}}}, Version: 1}}
		}, ErrInvalid, MsgOnlyLabels},
		{"config data changed", func() []Op {
			return []Op{{Type: OpUpdateConfig, Config: &model.Config{ID: "cfg1", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "conf"}, Data: []byte("a=2")}}, Version: 1}}
		}, ErrInvalid, MsgOnlyLabels},
		{"secret labels, data left out", func() []Op {
			return []Op{{Type: OpUpdateSecret, Secret: &model.Secret{ID: "sec1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw", Labels: map[string]string{"a": "b"}}}}, Version: 1}}
		}, nil, ""},
		{"secret labels, same data", func() []Op {
			return []Op{{Type: OpUpdateSecret, Secret: &model.Secret{ID: "sec1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw", Labels: map[string]string{"a": "c"}}, Data: []byte("hunter2")}}, Version: a.secret("sec1").Version.Index}}
		}, nil, ""},
		{"service on unknown network", func() []Op { return []Op{{Type: OpCreateService, Service: serviceWith("s1", "web", "nope", "", "")}} }, ErrNotFound, "network nope not found"},
		{"service on the ingress network", func() []Op { return []Op{{Type: OpCreateService, Service: serviceWith("s1", "web", "ing", "", "")}} }, ErrInvalid, "ingress"},
		{"service with unknown secret", func() []Op { return []Op{{Type: OpCreateService, Service: serviceWith("s1", "web", "", "nope", "")}} }, ErrNotFound, "secret not found: sec (nope)"},
		{"service with unknown config", func() []Op { return []Op{{Type: OpCreateService, Service: serviceWith("s1", "web", "", "", "nope")}} }, ErrNotFound, "config not found"},
		{"service with all", func() []Op {
			return []Op{{Type: OpCreateService, Service: serviceWith("s1", "web", "net1", "sec1", "cfg1", ingressPort(8080), hostPort(9090))}}
		}, nil, ""},
		{"ingress port taken", func() []Op {
			return []Op{{Type: OpCreateService, Service: serviceWith("s2", "api", "", "", "", ingressPort(8080))}}
		}, ErrConflict, "port '8080' is already in use by service 'web' (s1) as an ingress port"},
		{"host port on an ingress port", func() []Op {
			return []Op{{Type: OpCreateService, Service: serviceWith("s2", "api", "", "", "", hostPort(8080))}}
		}, ErrConflict, "as an ingress port"},
		{"ingress port on a host port", func() []Op {
			return []Op{{Type: OpCreateService, Service: serviceWith("s2", "api", "", "", "", ingressPort(9090))}}
		}, ErrConflict, "as a host-published port"},
		{"host ports may share", func() []Op {
			return []Op{{Type: OpCreateService, Service: serviceWith("s2", "api", "", "", "", hostPort(9090))}}
		}, nil, ""},
		{"same port, other protocol", func() []Op {
			return []Op{{Type: OpCreateService, Service: serviceWith("s3", "dns", "", "", "", model.PortConfig{Protocol: "udp", TargetPort: 53, PublishedPort: 8080})}}
		}, nil, ""},
		{"update onto a taken port", func() []Op {
			return []Op{{Type: OpUpdateService, Service: serviceWith("s2", "api", "", "", "", ingressPort(8080)), Version: a.service("s2").Version.Index}}
		}, ErrConflict, "'web'"},
		{"network in use by a service", func() []Op { return []Op{{Type: OpDeleteNetwork, ID: "net1"}} }, ErrConflict, "network Front is in use by service web"},
		{"ingress in use by a service", func() []Op { return []Op{{Type: OpDeleteNetwork, ID: "ing"}} }, ErrConflict, "ingress network cannot be removed because service web depends on it"},
		{"secret in use", func() []Op { return []Op{{Type: OpDeleteSecret, ID: "sec1"}} }, ErrConflict, "secret 'pw' is in use by the following service: web"},
		{"config in use", func() []Op { return []Op{{Type: OpDeleteConfig, ID: "cfg1"}} }, ErrConflict, "config 'conf' is in use by the following service: web"},
		{"delete unknown network", func() []Op { return []Op{{Type: OpDeleteNetwork, ID: "nope"}} }, ErrNotFound, ""},
		{"delete secret out of sequence", func() []Op { return []Op{{Type: OpDeleteSecret, ID: "sec1", Version: 3}} }, ErrSequence, ""},
	}
	for _, st := range steps {
		res := a.apply(st.ops()...)
		err := res.Err()
		if st.wantErr == nil {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		if !errors.Is(err, st.wantErr) || !strings.Contains(err.Error(), st.msg) {
			t.Fatalf("%s: got %v, want %v saying %q", st.name, err, st.wantErr, st.msg)
		}
	}
	if s := a.secret("sec1"); string(s.Spec.Data) != "hunter2" || s.Spec.Labels["a"] != "c" {
		t.Fatalf("secret after label updates: %q %v", s.Spec.Data, s.Spec.Labels)
	}
}

// TestNetworkRemovalWaitsForLiveTasks checks that a network is removable
// once no service names it and its tasks are done with it, even while
// they are still stopping: the order `docker stack rm` needs.
func TestNetworkRemovalWaitsForLiveTasks(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1"}}, Op{Type: OpCreateNetwork, Network: testNetwork("net1", "back")},
		Op{Type: OpCreateNetwork, Network: testNetwork("net2", "other")})
	a.mustApply(Op{Type: OpCreateService, Service: serviceWith("s1", "web", "net1", "", "")})
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 2, NewTasks: []NewTask{{ID: "t1", Slot: 1}}})
	a.mustApply(Op{Type: OpAssignTasks, Assignments: []Assignment{{TaskID: "t1", NodeID: "n1"}}})
	a.mustApply(Op{Type: OpTaskStatus, ID: "n1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t1", Status: model.TaskStatus{State: model.TaskStateRunning}}}})

	// A task attached to net2 by the allocator, not by its spec.
	tk := a.task("t1").Copy()
	tk.Networks = []model.NetworkAttachment{{NetworkID: "net2", Addresses: []string{"10.0.1.3/24"}}}
	a.mustApply(Op{Type: OpUpdateTask, Task: tk, Version: a.task("t1").Version.Index})
	if err := a.apply(Op{Type: OpDeleteNetwork, ID: "net2"}).Err(); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "in use by task t1") {
		t.Fatalf("network of a running task's attachment: %v", err)
	}

	// The service goes: its running task gets desired state remove and is
	// no longer a user of the network.
	a.mustApply(Op{Type: OpDeleteService, ID: "s1"})
	if a.task("t1").Status.State != model.TaskStateRunning {
		t.Fatal("the task should still be running")
	}
	a.mustApply(Op{Type: OpDeleteNetwork, ID: "net1"}, Op{Type: OpDeleteNetwork, ID: "net2"})
	if a.network("net1") != nil || a.network("net2") != nil {
		t.Fatal("networks not deleted")
	}
}

// TestAllocatorFieldsSurviveUserUpdates checks that a user's update of a
// service or node, made from a copy read before the allocator wrote,
// keeps the allocated endpoint and load-balancer addresses.
func TestAllocatorFieldsSurviveUserUpdates(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNode, Node: &model.Node{ID: "n1", Role: model.RoleWorker}}, Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
	userNode, userSvc := a.node("n1").Copy(), a.service("s1").Copy()

	// Written as the allocator would, through an import of the fields
	// into a fresh store: this test is about the update ops only.
	ep := &model.Endpoint{Ports: []model.PortConfig{ingressPort(30000)}, VirtualIPs: []model.EndpointVirtualIP{{NetworkID: "ing", Addr: "10.0.0.2/24"}}}
	att := []model.NodeNetworkAttachment{{NetworkID: "ing", Address: "10.0.0.3/24"}}
	b := newApplier(t)
	n, s := userNode.Copy(), userSvc.Copy()
	n.Attachments, s.Endpoint = att, ep
	b.mustApply(Op{Type: OpImport, Import: &ImportSet{Nodes: []*model.Node{n}, Services: []*model.Service{s}}})

	userNode.Spec.Availability = model.AvailabilityDrain
	userSvc.Spec.Mode.Replicated.Replicas = 3
	b.mustApply(Op{Type: OpUpdateNode, Node: userNode, Version: b.node("n1").Version.Index},
		Op{Type: OpUpdateService, Service: userSvc, Version: b.service("s1").Version.Index})
	if got := b.node("n1"); got.Spec.Availability != model.AvailabilityDrain || len(got.Attachments) != 1 {
		t.Fatalf("node after a user update: %+v", got)
	}
	if got := b.service("s1"); got.Spec.Replicas() != 3 || got.Endpoint == nil || got.Endpoint.VirtualIPs[0].Addr != "10.0.0.2/24" {
		t.Fatalf("service after a user update: %+v", got)
	}
}

func (a *applier) node(id string) *model.Node {
	var n *model.Node
	_ = a.s.View(func(tx ReadTx) error { n = tx.GetNode(id); return nil })
	return n
}

// TestAddrPoolCannotChange checks that the cluster's address pool is
// fixed once set, and that clusters made before it existed take it.
func TestAddrPoolCannotChange(t *testing.T) {
	a := newApplier(t)
	c := &model.Cluster{ID: "c1", Spec: model.DefaultClusterSpec()}
	a.mustApply(Op{Type: OpCreateCluster, Cluster: c})
	up := c.Copy()
	up.Spec.DefaultAddrPool = []string{"192.168.0.0/16"}
	if err := a.apply(Op{Type: OpUpdateCluster, Cluster: up, Version: 1}).Err(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "10.0.0.0/8") {
		t.Fatalf("pool change: %v", err)
	}
	up = c.Copy()
	up.Spec.SubnetSize = 26
	if err := a.apply(Op{Type: OpUpdateCluster, Cluster: up, Version: 1}).Err(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("subnet size change: %v", err)
	}
	up = c.Copy()
	up.Spec.Orchestration.TaskHistoryRetentionLimit = 2
	a.mustApply(Op{Type: OpUpdateCluster, Cluster: up, Version: 1})

	old := (&model.ClusterSpec{})
	if p := old.AddrPool(); len(p) != 1 || p[0] != model.DefaultAddrPool || old.Subnet() != model.DefaultSubnetSize {
		t.Fatalf("defaults of an old cluster: %v /%d", p, old.Subnet())
	}
}

// TestNetworkObjectsInSnapshotsAndImports round-trips networks, secrets,
// configs and task attachments through a snapshot and an import.
func TestNetworkObjectsInSnapshotsAndImports(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNetwork, Network: &model.Network{ID: "net1", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "back", Labels: map[string]string{"l": "v"}},
		DriverOpts: map[string]string{"o": "1"}, Attachable: true, Internal: true, IPAM: &model.IPAMOptions{Configs: []model.IPAMConfig{{Subnet: "10.9.0.0/24", Gateway: "10.9.0.1", Range: "10.9.0.128/25"}}}},
		VNI: 4097, IPAM: []model.IPAMConfig{{Subnet: "10.9.0.0/24", Gateway: "10.9.0.1"}}}},
		Op{Type: OpCreateSecret, Secret: &model.Secret{ID: "sec1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw"}, Data: []byte("hunter2")}}},
		Op{Type: OpCreateConfig, Config: &model.Config{ID: "cfg1", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "conf"}, Data: []byte("a=1")}}})
	a.mustApply(Op{Type: OpCreateService, Service: serviceWith("s1", "web", "net1", "sec1", "cfg1")})
	a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 2, NewTasks: []NewTask{{ID: "t1", Slot: 1}, {ID: "t2", Slot: 2}}})
	tk := a.task("t1").Copy()
	tk.Networks = []model.NetworkAttachment{{NetworkID: "net1", Addresses: []string{"10.9.0.130/24"}, Aliases: []string{"web"}}}
	a.mustApply(Op{Type: OpUpdateTask, Task: tk, Version: 3})

	want := dumpStore(t, a.s)
	if !strings.Contains(want, "hunter2") && !strings.Contains(want, "aHVudGVyMg==") {
		t.Fatal("the dump holds no secret data: the test checks nothing")
	}
	if got := dumpStore(t, restored(t, snapshotBytes(t, a.s))); got != want {
		t.Fatalf("format 3 round trip:\n%s\nwant:\n%s", got, want)
	}
	if got := dumpStore(t, restored(t, writeSnapshotJSON(t, a.s))); got != want {
		t.Fatal("format 1 round trip differs")
	}

	// An import into an empty store keeps every object.
	var set ImportSet
	var c *model.Cluster
	_ = a.s.View(func(tx ReadTx) error {
		c = tx.Cluster()
		set.Networks, _ = tx.FindNetworks(All)
		set.Secrets, _ = tx.FindSecrets(All)
		set.Configs, _ = tx.FindConfigs(All)
		set.Services, _ = tx.FindServices(All)
		set.Tasks, _ = tx.FindTasks(All)
		return nil
	})
	b := newApplier(t)
	res := b.apply(Op{Type: OpImport, Cluster: c, Import: &set})
	if res.Err() != nil || res[0].Applied != 6 {
		t.Fatalf("import: %+v", res)
	}
	var got *model.Task
	_ = b.s.View(func(tx ReadTx) error { got = tx.GetTask("t1"); return nil })
	if got == nil || len(got.Networks) != 1 || got.Networks[0].Addresses[0] != "10.9.0.130/24" {
		t.Fatalf("imported task: %+v", got)
	}
	// Importing again skips what exists.
	if err := b.apply(Op{Type: OpImport, Cluster: &model.Cluster{ID: "c2"}}).Err(); !errors.Is(err, ErrExists) {
		t.Fatalf("import into a store with networks: %v", err)
	}
}

// TestNetworkSelectors finds networks, secrets and configs by name, name
// prefix and ID prefix.
func TestNetworkSelectors(t *testing.T) {
	a := newApplier(t)
	a.mustApply(Op{Type: OpCreateNetwork, Network: testNetwork("abc1", "App_default")}, Op{Type: OpCreateNetwork, Network: testNetwork("abd2", "app_back")},
		Op{Type: OpCreateSecret, Secret: &model.Secret{ID: "s1", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "app_pw"}, Data: []byte("x")}}},
		Op{Type: OpCreateConfig, Config: &model.Config{ID: "c1", Spec: model.ConfigSpec{Annotations: model.Annotations{Name: "app_conf"}, Data: []byte("x")}}})
	cases := []struct {
		name string
		find func(ReadTx) ([]string, error)
		want string
	}{
		{"network by name", func(tx ReadTx) ([]string, error) {
			l, err := tx.FindNetworks(ByName("app_DEFAULT"))
			return ids(l), err
		}, "abc1"},
		// In name order.
		{"networks by name prefix", func(tx ReadTx) ([]string, error) { l, err := tx.FindNetworks(ByNamePrefix("APP_")); return ids(l), err }, "abd2,abc1"},
		{"networks by ID prefix", func(tx ReadTx) ([]string, error) { l, err := tx.FindNetworks(ByIDPrefix("abd")); return ids(l), err }, "abd2"},
		{"all networks", func(tx ReadTx) ([]string, error) { l, err := tx.FindNetworks(All); return ids(l), err }, "abc1,abd2"},
		{"secret by name", func(tx ReadTx) ([]string, error) { l, err := tx.FindSecrets(ByName("app_pw")); return ids(l), err }, "s1"},
		{"config by name prefix", func(tx ReadTx) ([]string, error) { l, err := tx.FindConfigs(ByNamePrefix("app")); return ids(l), err }, "c1"},
	}
	for _, tc := range cases {
		var got []string
		err := a.s.View(func(tx ReadTx) error { var err error; got, err = tc.find(tx); return err })
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Fatalf("%s: %v %v, want %s", tc.name, got, err, tc.want)
		}
	}
	if err := a.s.View(func(tx ReadTx) error { _, err := tx.FindNetworks(ByServiceID("x")); return err }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("networks by service: %v", err)
	}
}

// TestSecretUpdateKeepsDataOutOfTheLog checks that a label update made
// without the data leaves it out of the encoded command.
func TestSecretUpdateKeepsDataOutOfTheLog(t *testing.T) {
	c := &Command{Ops: []Op{{Type: OpUpdateSecret, Secret: &model.Secret{ID: "s", Spec: model.SecretSpec{Annotations: model.Annotations{Name: "pw", Labels: map[string]string{"a": "b"}}}}, Version: 1}}}
	b, _ := c.Encode()
	if bytes.Contains(b, []byte(`"data"`)) {
		t.Fatalf("encoded label update holds a data field: %q", b)
	}
}
