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
	"github.com/shoal-dev/shoal/state"
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
	n := &state.Node{
		ID:   "node1",
		Meta: state.Meta{Version: state.Version{Index: 7}, CreatedAt: at, UpdatedAt: at.Add(time.Minute)},
		Spec: state.NodeSpec{
			Annotations:  state.Annotations{Name: "n1", Labels: map[string]string{"zone": "a"}},
			DesiredRole:  state.RoleManager,
			Availability: state.AvailabilityDrain,
		},
		Role: state.RoleWorker, // promotion in progress
		Description: state.NodeDescription{
			Hostname:  "host1",
			Platform:  state.Platform{Architecture: "x86_64", OS: "linux"},
			Resources: state.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
			Engine:    state.Engine{EngineVersion: "28.5.2", Labels: map[string]string{"disk": "ssd"}},
		},
		Status:        state.NodeStatus{State: state.NodeStateReady, Message: "ok", Addr: "10.0.0.1"},
		ManagerStatus: &state.ManagerStatus{Addr: "10.0.0.1:2377", APIAddr: "10.0.0.1:4243", Leader: true, Reachability: state.ReachabilityReachable},
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
	w := &state.Node{ID: "w", Role: state.RoleWorker, Spec: state.NodeSpec{Availability: state.AvailabilityActive}}
	gw := convert.NodeToDocker(w, nil)
	if gw.ManagerStatus != nil || !reflect.DeepEqual(gw.Description.TLSInfo, swarm.TLSInfo{}) {
		t.Errorf("worker: %+v", gw)
	}
	if gw.Spec.Labels == nil || gw.Spec.Role != swarm.NodeRoleWorker {
		t.Errorf("worker spec: %+v", gw.Spec)
	}
	// A manager whose reachability was not filled in is "unknown".
	w.ManagerStatus = &state.ManagerStatus{Addr: "a:1"}
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
			want := state.NodeSpec{Annotations: state.Annotations{Name: "x", Labels: map[string]string{"k": "v"}}, DesiredRole: state.NodeRole(role), Availability: state.Availability(av)}
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
	task := &state.Task{
		ID:           "task1",
		Meta:         state.Meta{Version: state.Version{Index: 9}, CreatedAt: at, UpdatedAt: at},
		ServiceID:    "svc1",
		ServiceName:  "api",
		Slot:         3,
		NodeID:       "node1",
		Spec:         spec.Task,
		SpecVersion:  state.Version{Index: 5},
		Endpoint:     spec.Endpoint,
		DesiredState: state.TaskStateRunning,
		Status: state.TaskStatus{
			Timestamp: at,
			State:     state.TaskStateFailed,
			Message:   "started",
			Err:       "task: non-zero exit (1)",
			Container: &state.ContainerStatus{ContainerID: "c0ffee", PID: 1234, ExitCode: 1},
			Ports:     []state.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 32768, PublishMode: "host"}},
		},
	}
	got := convert.TaskToDocker(task)
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
	for s, name := range map[state.TaskState]swarm.TaskState{
		state.TaskStateNew: swarm.TaskStateNew, state.TaskStatePending: swarm.TaskStatePending,
		state.TaskStateAssigned: swarm.TaskStateAssigned, state.TaskStateAccepted: swarm.TaskStateAccepted,
		state.TaskStatePreparing: swarm.TaskStatePreparing, state.TaskStateReady: swarm.TaskStateReady,
		state.TaskStateStarting: swarm.TaskStateStarting, state.TaskStateRunning: swarm.TaskStateRunning,
		state.TaskStateComplete: swarm.TaskStateComplete, state.TaskStateShutdown: swarm.TaskStateShutdown,
		state.TaskStateFailed: swarm.TaskStateFailed, state.TaskStateRejected: swarm.TaskStateRejected,
		state.TaskStateRemove: swarm.TaskStateRemove, state.TaskStateOrphaned: swarm.TaskStateOrphaned,
	} {
		tk := &state.Task{DesiredState: s, Status: state.TaskStatus{State: s}}
		if g := convert.TaskToDocker(tk); g.Status.State != name || g.DesiredState != name {
			t.Errorf("%d: %q/%q, want %q", s, g.Status.State, g.DesiredState, name)
		}
	}

	// A pending task of a global service: no node, no slot, no container.
	g := convert.TaskToDocker(&state.Task{ID: "t2", ServiceID: "s", Spec: baseStateSpec().Task, DesiredState: state.TaskStateRunning, Status: state.TaskStatus{State: state.TaskStatePending, Message: "no suitable node"}})
	if g.Slot != 0 || g.NodeID != "" || g.Status.ContainerStatus != nil || g.Status.PortStatus.Ports != nil || g.Status.Message != "no suitable node" {
		t.Errorf("pending task: %+v", g)
	}
}
