package convert_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
)

// refusedGoldens maps each golden body that must be refused to the field
// the error must name. Every other golden must be accepted and round-trip.
var refusedGoldens = map[string]string{
	"service-create-cap-add":          "TaskTemplate.ContainerSpec.CapabilityAdd",
	"service-create-sysctl":           "TaskTemplate.ContainerSpec.Sysctls",
	"service-create-dns":              "TaskTemplate.ContainerSpec.DNSConfig",
	"service-create-host":             "TaskTemplate.ContainerSpec.Hosts",
	"service-create-generic-resource": "TaskTemplate.Resources.Reservations.GenericResources",
	"service-create-log-driver":       "TaskTemplate.LogDriver",
	"service-create-mount-tmpfs-size": "TaskTemplate.ContainerSpec.Mounts[0].TmpfsOptions",
}

func goldens(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "cli", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/cli")
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return out
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

// TestGoldenServiceSpecs feeds every service body the docker CLI sent to
// ServiceSpecFromDocker: supported ones must convert and come back through
// ServiceSpecToDocker with every field preserved; refused ones must fail
// naming the field.
func TestGoldenServiceSpecs(t *testing.T) {
	for name, body := range goldens(t) {
		if !strings.HasPrefix(name, "service-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			in := decode[swarm.ServiceSpec](t, body)
			got, err := convert.ServiceSpecFromDocker(in)
			if field, refused := refusedGoldens[name]; refused {
				requireFieldError(t, err, field)
				return
			}
			if err != nil {
				t.Fatalf("ServiceSpecFromDocker: %v", err)
			}
			back := convert.ServiceSpecToDocker(got)
			assertSameWire(t, withDockerDefaults(in), back)

			// What we send back, the CLI sends again on update: it
			// must be accepted and mean the same.
			again, err := convert.ServiceSpecFromDocker(back)
			if err != nil {
				t.Fatalf("ServiceSpecFromDocker(ServiceSpecToDocker(x)): %v", err)
			}
			if !reflect.DeepEqual(got, again) {
				t.Errorf("second conversion differs:\n first: %+v\nsecond: %+v", got, again)
			}
		})
	}
}

func TestGoldenNodeSpecs(t *testing.T) {
	want := map[string]model.NodeSpec{
		"node-update-drain":     {DesiredRole: model.RoleWorker, Availability: model.AvailabilityDrain},
		"node-update-label-add": {Annotations: model.Annotations{Labels: map[string]string{"zone": "a"}}, DesiredRole: model.RoleWorker, Availability: model.AvailabilityActive},
		"node-promote":          {DesiredRole: model.RoleManager, Availability: model.AvailabilityActive},
	}
	for name, body := range goldens(t) {
		if !strings.HasPrefix(name, "node-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for golden %s", name)
			}
			in := decode[swarm.NodeSpec](t, body)
			got, err := convert.NodeSpecFromDocker(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got %+v, want %+v", got, w)
			}
			n := &model.Node{ID: "n1", Spec: got, Role: model.RoleWorker}
			assertSameWire(t, in, convert.NodeToDocker(n, nil).Spec)
		})
	}
}

func TestGoldenClusterSpecs(t *testing.T) {
	current := model.DefaultClusterSpec()
	for name, body := range goldens(t) {
		if !strings.HasPrefix(name, "swarm-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			in := decode[swarm.Spec](t, body)
			got, err := convert.ClusterSpecFromDocker(in, current)
			if err != nil {
				t.Fatal(err)
			}
			want := current
			// The fake engine answered GET /swarm with Docker's own
			// defaults, which the CLI sent back.
			want.Dispatcher.HeartbeatPeriod = 5 * time.Second
			if name == "swarm-update-task-history-limit" {
				want.Orchestration.TaskHistoryRetentionLimit = 3
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			// Round trip, except the value shoal does not keep.
			in.Raft.LogEntriesForSlowFollowers = 0
			assertSameWire(t, in, convert.ClusterToDocker(&model.Cluster{Spec: got}).Spec)
		})
	}
}

// TestGoldenCoverage makes sure every golden is exercised by a test above.
func TestGoldenCoverage(t *testing.T) {
	for name := range goldens(t) {
		switch {
		case strings.HasPrefix(name, "service-"), strings.HasPrefix(name, "node-"), strings.HasPrefix(name, "swarm-"):
		default:
			t.Errorf("golden %s is not exercised: name it service-*, node-* or swarm-*", name)
		}
	}
	all := goldens(t)
	for name := range refusedGoldens {
		if _, ok := all[name]; !ok {
			t.Errorf("refusedGoldens names %s, which has no golden file", name)
		}
	}
}

func requireFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error naming %s", field)
	}
	if !strings.Contains(err.Error(), field+": ") {
		t.Fatalf("error %q does not name %s", err, field)
	}
	var fe *convert.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	if !errors.Is(err, convert.ErrUnsupported) && !errors.Is(err, convert.ErrInvalid) {
		t.Fatalf("error %v is neither ErrUnsupported nor ErrInvalid", err)
	}
}

// withDockerDefaults returns s with the zero values Docker defaults filled
// in the way convert documents, so that it can be compared with a
// conversion's output.
func withDockerDefaults(orig swarm.ServiceSpec) swarm.ServiceSpec {
	// Work on a deep copy: the caller's spec shares pointers.
	var s swarm.ServiceSpec
	b, err := json.Marshal(orig)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		panic(err)
	}
	if s.Mode.Global == nil && s.Mode.ReplicatedJob == nil && s.Mode.GlobalJob == nil &&
		(s.Mode.Replicated == nil || s.Mode.Replicated.Replicas == nil) {
		one := uint64(1)
		s.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	}
	if s.TaskTemplate.Runtime == "" {
		s.TaskTemplate.Runtime = swarm.RuntimeContainer
	}
	if s.EndpointSpec == nil {
		s.EndpointSpec = &swarm.EndpointSpec{}
	}
	if s.EndpointSpec.Mode == "" {
		s.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	for i, p := range s.EndpointSpec.Ports {
		if p.Protocol == "" {
			s.EndpointSpec.Ports[i].Protocol = swarm.PortConfigProtocolTCP
		}
		if p.PublishMode == "" {
			s.EndpointSpec.Ports[i].PublishMode = swarm.PortConfigPublishModeIngress
		}
	}
	// The deprecated top-level Networks is TaskTemplate.Networks.
	if len(s.Networks) > 0 {
		s.TaskTemplate.Networks, s.Networks = s.Networks, nil
	}
	for _, u := range []*swarm.UpdateConfig{s.UpdateConfig, s.RollbackConfig} {
		if u == nil {
			continue
		}
		if u.FailureAction == "" {
			u.FailureAction = swarm.UpdateFailureActionPause
		}
		if u.Order == "" {
			u.Order = swarm.UpdateOrderStopFirst
		}
		if u.Monitor == 0 {
			u.Monitor = 5 * time.Second
		}
	}
	// "default" is the zero value spelled out.
	if c := s.TaskTemplate.ContainerSpec; c != nil {
		if c.Isolation == container.IsolationDefault {
			c.Isolation = ""
		}
		for i := range c.Mounts {
			if c.Mounts[i].Consistency == mount.ConsistencyDefault {
				c.Mounts[i].Consistency = ""
			}
		}
	}
	if p := s.TaskTemplate.RestartPolicy; p != nil && p.Condition == "" {
		p.Condition = swarm.RestartPolicyConditionAny
	}
	return s
}

// assertSameWire compares two values by their JSON, ignoring the
// difference between an absent field and a zero, empty or null one: the
// CLI sends "DNSConfig": {} and "Init": false where a conversion may leave
// the field out, and neither carries information.
func assertSameWire(t *testing.T, want, got any) {
	t.Helper()
	w, g := prunedJSON(t, want), prunedJSON(t, got)
	if !reflect.DeepEqual(w, g) {
		wb, _ := json.MarshalIndent(w, "", "  ")
		gb, _ := json.MarshalIndent(g, "", "  ")
		t.Errorf("wire forms differ\nwant: %s\n got: %s", wb, gb)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func prunedJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	return prune(generic)
}

// prune drops empty values; it returns nil for a value that is empty.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if p := prune(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = prune(e)
		}
		return out
	case string:
		if v == "" {
			return nil
		}
	case float64:
		if v == 0 {
			return nil
		}
	case bool:
		if !v {
			return nil
		}
	}
	return v
}
