package convert_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
)

// testRootCA returns a self-signed CA certificate as PEM, and the parsed
// certificate.
func testRootCA(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shoal-root-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert
}

func TestNodeToDocker(t *testing.T) {
	pemCA, cert := testRootCA(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	n := &model.Node{
		ID:   "node1",
		Meta: model.Meta{Version: model.Version{Index: 7}, CreatedAt: at, UpdatedAt: at.Add(time.Minute)},
		Spec: model.NodeSpec{
			Annotations:  model.Annotations{Name: "n1", Labels: map[string]string{"zone": "a"}},
			DesiredRole:  model.RoleManager,
			Availability: model.AvailabilityDrain,
		},
		Role: model.RoleWorker, // promotion in progress
		Description: model.NodeDescription{
			Hostname:  "host1",
			Platform:  model.Platform{Architecture: "x86_64", OS: "linux"},
			Resources: model.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
			Engine:    model.Engine{EngineVersion: "28.5.2", Labels: map[string]string{"disk": "ssd"}},
		},
		Status:        model.NodeStatus{State: model.NodeStateReady, Message: "ok", Addr: "10.0.0.1"},
		ManagerStatus: &model.ManagerStatus{Addr: "10.0.0.1:2377", APIAddr: "10.0.0.1:4243", Leader: true, Reachability: model.ReachabilityReachable},
	}
	got := convert.NodeToDocker(n, pemCA)
	want := swarm.Node{
		ID:   "node1",
		Meta: swarm.Meta{Version: swarm.Version{Index: 7}, CreatedAt: at, UpdatedAt: at.Add(time.Minute)},
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Name: "n1", Labels: map[string]string{"zone": "a"}},
			Role:         swarm.NodeRoleManager,
			Availability: swarm.NodeAvailabilityDrain,
		},
		Description: swarm.NodeDescription{
			Hostname:  "host1",
			Platform:  swarm.Platform{Architecture: "x86_64", OS: "linux"},
			Resources: swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
			Engine:    swarm.EngineDescription{EngineVersion: "28.5.2", Labels: map[string]string{"disk": "ssd"}},
			TLSInfo: swarm.TLSInfo{
				TrustRoot:           string(pemCA),
				CertIssuerSubject:   cert.RawSubject,
				CertIssuerPublicKey: cert.RawSubjectPublicKeyInfo,
			},
		},
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Message: "ok", Addr: "10.0.0.1"},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:2377"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// A worker without a CA given: no TLS info, no manager status, labels
	// never null, role from Role when no role is desired.
	w := &model.Node{ID: "w", Role: model.RoleWorker, Spec: model.NodeSpec{Availability: model.AvailabilityActive}}
	gw := convert.NodeToDocker(w, nil)
	if gw.ManagerStatus != nil || !reflect.DeepEqual(gw.Description.TLSInfo, swarm.TLSInfo{}) {
		t.Errorf("worker: %+v", gw)
	}
	if gw.Spec.Labels == nil || gw.Spec.Role != swarm.NodeRoleWorker {
		t.Errorf("worker spec: %+v", gw.Spec)
	}
	// A manager whose reachability was not filled in is "unknown".
	w.ManagerStatus = &model.ManagerStatus{Addr: "a:1"}
	if r := convert.NodeToDocker(w, nil).ManagerStatus.Reachability; r != swarm.ReachabilityUnknown {
		t.Errorf("reachability %q", r)
	}
	// A PEM that does not parse still shows the trust root.
	bad := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	if ti := convert.NodeToDocker(w, bad).Description.TLSInfo; ti.TrustRoot != string(bad) || ti.CertIssuerSubject != nil {
		t.Errorf("bad PEM: %+v", ti)
	}
	// Converting does not alias the stored maps.
	got.Description.Engine.Labels["disk"] = "hdd"
	got.Spec.Labels["zone"] = "b"
	if n.Description.Engine.Labels["disk"] != "ssd" || n.Spec.Labels["zone"] != "a" {
		t.Error("NodeToDocker aliases the stored maps")
	}
	if !bytes.Equal([]byte(got.Description.TLSInfo.TrustRoot), pemCA) {
		t.Error("trust root")
	}
}

func TestNodeSpecFromDocker(t *testing.T) {
	for _, role := range []swarm.NodeRole{swarm.NodeRoleWorker, swarm.NodeRoleManager} {
		for _, av := range []swarm.NodeAvailability{swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain} {
			in := swarm.NodeSpec{Annotations: swarm.Annotations{Name: "x", Labels: map[string]string{"k": "v"}}, Role: role, Availability: av}
			got, err := convert.NodeSpecFromDocker(in)
			if err != nil {
				t.Fatalf("%s/%s: %v", role, av, err)
			}
			want := model.NodeSpec{Annotations: model.Annotations{Name: "x", Labels: map[string]string{"k": "v"}}, DesiredRole: model.NodeRole(role), Availability: model.Availability(av)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		}
	}
	refused := []struct {
		in    swarm.NodeSpec
		field string
	}{
		{swarm.NodeSpec{Availability: "active"}, "Role"},
		{swarm.NodeSpec{Role: "admin", Availability: "active"}, "Role"},
		{swarm.NodeSpec{Role: "worker"}, "Availability"},
		{swarm.NodeSpec{Role: "worker", Availability: "offline"}, "Availability"},
	}
	for _, tt := range refused {
		_, err := convert.NodeSpecFromDocker(tt.in)
		requireFieldError(t, err, tt.field)
	}
}

func TestTaskToDocker(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	spec := fullStateSpec()
	task := &model.Task{
		ID:           "task1",
		Meta:         model.Meta{Version: model.Version{Index: 9}, CreatedAt: at, UpdatedAt: at},
		ServiceID:    "svc1",
		ServiceName:  "api",
		Slot:         3,
		NodeID:       "node1",
		Spec:         spec.Task,
		SpecVersion:  model.Version{Index: 5},
		Endpoint:     spec.Endpoint,
		DesiredState: model.TaskStateRunning,
		Status: model.TaskStatus{
			Timestamp: at,
			State:     model.TaskStateFailed,
			Message:   "started",
			Err:       "task: non-zero exit (1)",
			Container: &model.ContainerStatus{ContainerID: "c0ffee", PID: 1234, ExitCode: 1},
			Ports:     []model.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 32768, PublishMode: "host"}},
		},
	}
	got := convert.TaskToDocker(task, nil)
	want := swarm.Task{
		ID:           "task1",
		Meta:         swarm.Meta{Version: swarm.Version{Index: 9}, CreatedAt: at, UpdatedAt: at},
		Annotations:  swarm.Annotations{Labels: map[string]string{}},
		Spec:         convert.ServiceSpecToDocker(spec).TaskTemplate,
		ServiceID:    "svc1",
		Slot:         3,
		NodeID:       "node1",
		DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{
			Timestamp:       at,
			State:           swarm.TaskStateFailed,
			Message:         "started",
			Err:             "task: non-zero exit (1)",
			ContainerStatus: &swarm.ContainerStatus{ContainerID: "c0ffee", PID: 1234, ExitCode: 1},
			PortStatus:      swarm.PortStatus{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 32768, PublishMode: "host"}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Every state has Docker's name.
	for s, name := range map[model.TaskState]swarm.TaskState{
		model.TaskStateNew: swarm.TaskStateNew, model.TaskStatePending: swarm.TaskStatePending,
		model.TaskStateAssigned: swarm.TaskStateAssigned, model.TaskStateAccepted: swarm.TaskStateAccepted,
		model.TaskStatePreparing: swarm.TaskStatePreparing, model.TaskStateReady: swarm.TaskStateReady,
		model.TaskStateStarting: swarm.TaskStateStarting, model.TaskStateRunning: swarm.TaskStateRunning,
		model.TaskStateComplete: swarm.TaskStateComplete, model.TaskStateShutdown: swarm.TaskStateShutdown,
		model.TaskStateFailed: swarm.TaskStateFailed, model.TaskStateRejected: swarm.TaskStateRejected,
		model.TaskStateRemove: swarm.TaskStateRemove, model.TaskStateOrphaned: swarm.TaskStateOrphaned,
	} {
		tk := &model.Task{DesiredState: s, Status: model.TaskStatus{State: s}}
		if g := convert.TaskToDocker(tk, nil); g.Status.State != name || g.DesiredState != name {
			t.Errorf("%d: %q/%q, want %q", s, g.Status.State, g.DesiredState, name)
		}
	}

	// A pending task of a global service: no node, no slot, no container.
	g := convert.TaskToDocker(&model.Task{ID: "t2", ServiceID: "s", Spec: baseStateSpec().Task, DesiredState: model.TaskStateRunning, Status: model.TaskStatus{State: model.TaskStatePending, Message: "no suitable node"}}, nil)
	if g.Slot != 0 || g.NodeID != "" || g.Status.ContainerStatus != nil || g.Status.PortStatus.Ports != nil || g.Status.Message != "no suitable node" {
		t.Errorf("pending task: %+v", g)
	}
}

// TestTaskNetworksToDocker checks a task's attachments as Docker shows
// them: the network's spec and allocated state, the task's addresses, and
// a network that is gone by its ID alone.
func TestTaskNetworksToDocker(t *testing.T) {
	nets := map[string]*model.Network{"net1": {ID: "net1", Spec: model.NetworkSpec{Annotations: model.Annotations{Name: "app_default"}, Driver: "overlay", Attachable: true},
		VNI: 4097, IPAM: []model.IPAMConfig{{Subnet: "10.0.1.0/24", Gateway: "10.0.1.1"}}}}
	task := &model.Task{ID: "t1", Networks: []model.NetworkAttachment{
		{NetworkID: "net1", Addresses: []string{"10.0.1.5/24"}, Aliases: []string{"web"}},
		{NetworkID: "gone", Addresses: []string{"10.0.2.5/24"}},
	}}
	got := convert.TaskNetworksToDocker(task, func(id string) *model.Network { return nets[id] })
	if len(got) != 2 {
		t.Fatalf("%d attachments", len(got))
	}
	n := got[0].Network
	if n.ID != "net1" || n.Spec.Name != "app_default" || !n.Spec.Attachable || n.DriverState.Options["com.docker.network.driver.overlay.vxlanid_list"] != "4097" ||
		len(n.IPAMOptions.Configs) != 1 || n.IPAMOptions.Configs[0].Subnet != "10.0.1.0/24" || got[0].Addresses[0] != "10.0.1.5/24" {
		t.Errorf("attachment: %+v", got[0])
	}
	if got[1].Network.ID != "gone" || got[1].Network.Spec.Name != "" || got[1].Addresses[0] != "10.0.2.5/24" {
		t.Errorf("attachment to a removed network: %+v", got[1])
	}
	if convert.TaskNetworksToDocker(&model.Task{}, func(string) *model.Network { return nil }) != nil {
		t.Error("a task without networks has attachments")
	}
}
