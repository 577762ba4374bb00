package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/state"
)

// withReplicas returns the JSON of spec with the replica count written as
// the literal n, which may not fit a uint64.
func withReplicas(t *testing.T, spec swarm.ServiceSpec, n string) string {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf(`"Replicas":%d`, *spec.Mode.Replicated.Replicas)
	if !strings.Contains(string(b), old) {
		t.Fatalf("no %s in %s", old, b)
	}
	return strings.Replace(string(b), old, `"Replicas":`+n, 1)
}

// TestReplicaCountsAreBounded is the regression test of issue 21's
// findings 1 and 2: a replica count of 9223372036854775808 or ten million
// was committed, and the orchestrator then panicked or ate the managers'
// memory. Create, update and scale (an update with a new count) all answer
// 400 naming the field and the limit, and nothing is written.
func TestReplicaCountsAreBounded(t *testing.T) {
	e := newEnv(t, 1)
	var created swarm.ServiceCreateResponse
	e.must(http.StatusCreated, "POST", "/v1.41/services/create", webSpec("web", 2), &created)

	cases := []struct {
		replicas string
		want     []string
	}{
		{"9223372036854775808", []string{"Mode.Replicated.Replicas", "9223372036854775808", "1000000"}},
		{"18446744073709551615", []string{"Mode.Replicated.Replicas", "18446744073709551615"}},
		{"10000000", []string{"Mode.Replicated.Replicas", "10000000", "1000000"}},
		// Under the ceiling any cluster may have, over this cluster's.
		{"100001", []string{"Mode.Replicated.Replicas", "100001", "cluster's limit of 100000", "--max-replicas"}},
		{"-1", []string{"Replicas", "uint64"}},
		{"18446744073709551616", []string{"Replicas", "uint64"}},
	}
	for _, c := range cases {
		r := e.do("POST", "/v1.41/services/create", withReplicas(t, webSpec("big", 1), c.replicas))
		if r.status != http.StatusBadRequest {
			t.Errorf("create with %s replicas: %d %s", c.replicas, r.status, r.body)
		}
		wantContains(t, "create with "+c.replicas, r.message(), c.want...)

		s := getService(e, "web")
		body := withReplicas(t, s.Spec, c.replicas)
		r = e.do("POST", "/v1.41/services/"+s.ID+"/update?version="+itoa(s.Version.Index), body)
		if r.status != http.StatusBadRequest {
			t.Errorf("scale to %s: %d %s", c.replicas, r.status, r.body)
		}
		wantContains(t, "scale to "+c.replicas, r.message(), c.want...)
	}
	e.read(func(tx state.ReadTx) {
		services, _ := tx.FindServices(state.All)
		if len(services) != 1 || services[0].Spec.Replicas() != 2 {
			t.Errorf("stored %d services, first with %d replicas; want web alone, unchanged", len(services), services[0].Spec.Replicas())
		}
	})

	// The limit is a cluster setting: lowered to 5, a scale to 6 is
	// refused and one to 5 accepted; a setting above the ceiling is refused.
	if r := updateSwarm(e, "", func(s *swarm.Spec) { s.Labels[convert.LabelMaxReplicas] = "5" }); r.status != http.StatusOK {
		t.Fatalf("set the limit: %d %s", r.status, r.body)
	}
	if got := e.clusterObject().Spec.Orchestration.ReplicaLimit(); got != 5 {
		t.Fatalf("limit %d after setting 5", got)
	}
	s := getService(e, "web")
	six, five := uint64(6), uint64(5)
	s.Spec.Mode.Replicated.Replicas = &six
	r := e.do("POST", "/v1.41/services/"+s.ID+"/update?version="+itoa(s.Version.Index), s.Spec)
	if r.status != http.StatusBadRequest {
		t.Errorf("scale to 6 with a limit of 5: %d %s", r.status, r.body)
	}
	wantContains(t, "scale to 6", r.message(), "replicas 6", "limit of 5")
	s.Spec.Mode.Replicated.Replicas = &five
	e.must(http.StatusOK, "POST", "/v1.41/services/"+s.ID+"/update?version="+itoa(s.Version.Index), s.Spec, nil)
	for _, bad := range []string{"0", "1000001", "many", "-3"} {
		r := updateSwarm(e, "", func(s *swarm.Spec) { s.Labels[convert.LabelMaxReplicas] = bad })
		if r.status != http.StatusBadRequest {
			t.Errorf("limit %q: %d %s", bad, r.status, r.body)
		}
		wantContains(t, "limit "+bad, r.message(), convert.LabelMaxReplicas, "from 1 to 1000000")
	}
	if got := getSwarm(e).Spec.Labels[convert.LabelMaxReplicas]; got != "5" {
		t.Errorf("GET /swarm shows the limit as %q", got)
	}
}

// TestOtherCountsAreBounded checks the bounds on the other counts of a
// spec, each refused with the field and the bound named.
func TestOtherCountsAreBounded(t *testing.T) {
	e := newEnv(t, 1)
	many := make([]string, convert.MaxListEntries+1)
	for i := range many {
		many[i] = "A=1"
	}
	huge := uint64(1 << 63)
	cases := []struct {
		name  string
		mod   func(*swarm.ServiceSpec)
		field string
	}{
		{"env", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = many }, "TaskTemplate.ContainerSpec.Env"},
		{"constraints", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.Constraints = make([]string, convert.MaxListEntries+1)
			for i := range s.TaskTemplate.Placement.Constraints {
				s.TaskTemplate.Placement.Constraints[i] = "node.role==worker"
			}
		}, "TaskTemplate.Placement.Constraints"},
		{"labels", func(s *swarm.ServiceSpec) {
			for i := range convert.MaxListEntries + 1 {
				s.Labels["l"+itoa(uint64(i))] = "x"
			}
		}, "Labels"},
		{"max attempts", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{MaxAttempts: &huge}
		}, "TaskTemplate.RestartPolicy.MaxAttempts"},
		{"update parallelism", func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: huge}
		}, "UpdateConfig.Parallelism"},
		{"max replicas per node", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.MaxReplicas = huge
		}, "TaskTemplate.Placement.MaxReplicas"},
		{"name", func(s *swarm.ServiceSpec) { s.Name = strings.Repeat("n", 64) }, "Name"},
		{"secrets", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = make([]*swarm.SecretReference, convert.MaxListEntries+1)
		}, "TaskTemplate.ContainerSpec.Secrets"},
		{"networks", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = make([]swarm.NetworkAttachmentConfig, convert.MaxListEntries+1)
		}, "TaskTemplate.Networks"},
	}
	for _, c := range cases {
		spec := webSpec("svc", 1)
		c.mod(&spec)
		r := e.do("POST", "/v1.41/services/create", spec)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
			continue
		}
		wantContains(t, c.name, r.message(), c.field+":")
	}
}

// TestNodeAndClusterLabelsAreBounded checks the label bound on the other
// objects a user writes.
func TestNodeAndClusterLabelsAreBounded(t *testing.T) {
	e := newEnv(t, 1)
	many := map[string]string{}
	for i := range convert.MaxListEntries + 1 {
		many[fmt.Sprintf("l%d", i)] = "x"
	}
	r := updateNode(e, "manager-1", func(s *swarm.NodeSpec) { s.Labels = many })
	if r.status != http.StatusBadRequest {
		t.Errorf("node labels: %d %s", r.status, r.body)
	}
	wantContains(t, "node labels", r.message(), "Labels: 1001 entries: at most 1000")
	r = updateSwarm(e, "", func(s *swarm.Spec) { s.Labels = many })
	if r.status != http.StatusBadRequest {
		t.Errorf("cluster labels: %d %s", r.status, r.body)
	}
	wantContains(t, "cluster labels", r.message(), "Labels: 1001 entries: at most 1000")
}
