package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// webSpec is a spec shaped like the CLI's for
// `docker service create --name NAME --replicas N nginx:1.27`.
func webSpec(name string, replicas uint64) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "nginx:1.27", Init: new(bool), DNSConfig: &swarm.DNSConfig{}},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}},
			Placement:     &swarm.Placement{},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
	}
}

func getService(e *env, ref string) swarm.Service {
	e.t.Helper()
	var s swarm.Service
	e.must(http.StatusOK, "GET", "/v1.41/services/"+ref+"?insertDefaults=false", nil, &s)
	return s
}

func TestServiceLifecycle(t *testing.T) {
	e := newEnv(t, 1)

	// Create.
	var created swarm.ServiceCreateResponse
	r := e.must(http.StatusCreated, "POST", "/v1.41/services/create", webSpec("web", 3), &created)
	if len(created.ID) != model.IDLength {
		t.Fatalf("created %s", r.body)
	}
	stored := e.service(created.ID)
	if stored.Spec.Name != "web" || stored.Spec.Replicas() != 3 || stored.Spec.Task.Container.Image != "nginx:1.27" {
		t.Fatalf("stored %+v", stored.Spec)
	}
	if r := e.do("POST", "/services/create", webSpec("web", 1)); r.status != http.StatusConflict ||
		!strings.Contains(r.message(), "web") {
		t.Errorf("duplicate name: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/services/create", webSpec("WEB", 1)); r.status != http.StatusConflict {
		t.Errorf("duplicate name in other case: %d %s", r.status, r.body)
	}

	// Inspect by ID, name and prefix, with and without defaults.
	for _, ref := range []string{created.ID, "web", created.ID[:5]} {
		if s := getService(e, ref); s.ID != created.ID || s.Spec.Name != "web" {
			t.Errorf("inspect %s: %+v", ref, s)
		}
	}
	s := getService(e, "web")
	if s.Spec.UpdateConfig != nil || s.Spec.TaskTemplate.RestartPolicy != nil {
		t.Errorf("defaults without insertDefaults: %+v %+v", s.Spec.UpdateConfig, s.Spec.TaskTemplate.RestartPolicy)
	}
	var withDefaults swarm.Service
	e.must(http.StatusOK, "GET", "/services/web?insertDefaults=true", nil, &withDefaults)
	if u := withDefaults.Spec.UpdateConfig; u == nil || u.Parallelism != 1 || u.Order != "stop-first" ||
		withDefaults.Spec.TaskTemplate.RestartPolicy.Condition != swarm.RestartPolicyConditionAny {
		t.Errorf("insertDefaults: %+v", withDefaults.Spec)
	}

	// A scale: PreviousSpec kept, UpdateStatus nil, task spec unchanged.
	e.propose(state.Op{Type: state.OpServiceUpdateStatus, ID: created.ID, SpecVersion: stored.SpecVersion.Index,
		UpdateStatus: &model.UpdateStatus{State: model.UpdateStateCompleted}})
	s = getService(e, "web")
	five := uint64(5)
	s.Spec.Mode.Replicated.Replicas = &five
	e.must(http.StatusOK, "POST", "/v1.41/services/"+s.ID+"/update?version="+itoa(s.Version.Index), s.Spec, nil)
	scaled := e.service("web")
	if scaled.Spec.Replicas() != 5 || scaled.UpdateStatus != nil || scaled.PreviousSpec == nil ||
		scaled.PreviousSpec.Replicas() != 3 || scaled.SpecVersion != stored.SpecVersion {
		t.Errorf("after scale: %+v", scaled)
	}

	// A stale version.
	r = e.do("POST", "/services/web/update?version="+itoa(s.Version.Index), s.Spec)
	if r.status != http.StatusConflict || r.message() != "update out of sequence" {
		t.Errorf("stale update: %d %s", r.status, r.body)
	}

	// An image update changes the task spec.
	s = getService(e, "web")
	s.Spec.TaskTemplate.ContainerSpec.Image = "nginx:1.28"
	e.must(http.StatusOK, "POST", "/services/web/update?registryAuthFrom=spec&version="+itoa(s.Version.Index), s.Spec, nil)
	updated := e.service("web")
	if updated.Spec.Task.Container.Image != "nginx:1.28" || updated.SpecVersion == scaled.SpecVersion ||
		updated.PreviousSpec.Task.Container.Image != "nginx:1.27" || updated.PreviousSpecVersion != scaled.SpecVersion {
		t.Errorf("after image update: %+v", updated)
	}

	// The same spec again changes nothing, so the rollback target stays.
	s = getService(e, "web")
	e.must(http.StatusOK, "POST", "/services/web/update?version="+itoa(s.Version.Index), s.Spec, nil)
	if again := e.service("web"); again.PreviousSpec.Task.Container.Image != "nginx:1.27" {
		t.Errorf("a no-op update lost the previous spec: %+v", again.PreviousSpec)
	}

	// Rollback: the CLI sends the current spec; the server restores the
	// previous one.
	s = getService(e, "web")
	e.must(http.StatusOK, "POST", "/services/web/update?registryAuthFrom=spec&rollback=previous&version="+itoa(s.Version.Index), s.Spec, nil)
	rolled := e.service("web")
	if rolled.Spec.Task.Container.Image != "nginx:1.27" || rolled.PreviousSpec.Task.Container.Image != "nginx:1.28" ||
		rolled.UpdateStatus == nil || rolled.UpdateStatus.State != model.UpdateStateRollbackStarted ||
		rolled.UpdateStatus.Message != api.ManualRollbackMessage || rolled.UpdateStatus.StartedAt == nil {
		t.Errorf("after rollback: %+v %+v", rolled.Spec, rolled.UpdateStatus)
	}
	if s := getService(e, "web"); s.UpdateStatus == nil || s.UpdateStatus.State != swarm.UpdateStateRollbackStarted ||
		s.PreviousSpec == nil || s.PreviousSpec.TaskTemplate.ContainerSpec.Image != "nginx:1.28" {
		t.Errorf("inspect after rollback: %+v", s)
	}

	// Delete.
	e.must(http.StatusOK, "DELETE", "/v1.41/services/web", nil, nil)
	if r := e.do("GET", "/services/web", nil); r.status != http.StatusNotFound || r.message() != "service web not found" {
		t.Errorf("after delete: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/services/web", nil); r.status != http.StatusNotFound {
		t.Errorf("delete again: %d %s", r.status, r.body)
	}
}

func TestServiceUpdateRefused(t *testing.T) {
	e := newEnv(t, 1)
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("web", 1), nil)
	s := getService(e, "web")
	path := "/services/web/update?version=" + itoa(s.Version.Index)

	for _, tc := range []struct {
		name   string
		path   string
		mod    func(*swarm.ServiceSpec)
		status int
		msg    string
	}{
		{"rename", path, func(s *swarm.ServiceSpec) { s.Name = "www" }, 400, "Name: \"www\": renaming services is not supported"},
		{"mode change", path, func(s *swarm.ServiceSpec) { s.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}} }, 400, "Mode: service mode change is not allowed"},
		{"bad constraint", path, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.Constraints = []string{"node.role==worker", "node.colour==red"}
		}, 400, "TaskTemplate.Placement.Constraints[1]: invalid constraint"},
		{"bad preference", path, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.Preferences = []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.colour"}}}
		}, 400, "TaskTemplate.Placement.Preferences[0]"},
		{"refused field", path, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "appnet", DriverOpts: map[string]string{"a": "b"}}}
		}, 400, "TaskTemplate.Networks[0].DriverOpts"},
		{"unknown network", path, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "appnet"}}
		}, 404, "network appnet not found"},
		{"no previous spec", path + "&rollback=previous", nil, 400, "service web does not have a previous spec to roll back to"},
		{"bad rollback value", path + "&rollback=yes", nil, 400, "invalid value for parameter rollback: \"yes\": want previous"},
		{"no version", "/services/web/update", nil, 400, "invalid value for parameter version: \"\": want the service's version"},
		{"bad version", "/services/web/update?version=x", nil, 400, "invalid value for parameter version: \"x\": want the service's version"},
		{"stale version", "/services/web/update?version=1", nil, 409, "update out of sequence"},
		{"missing service", "/services/nope/update?version=1", nil, 404, "service nope not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := getService(e, "web").Spec
			if tc.mod != nil {
				tc.mod(&spec)
			}
			r := e.do("POST", tc.path, spec)
			if r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
				t.Errorf("%d %q, want %d %q", r.status, r.message(), tc.status, tc.msg)
			}
		})
	}
	if got := e.service("web"); got.Version.Index != s.Version.Index {
		t.Errorf("a refused update wrote the service: version %d -> %d", s.Version.Index, got.Version.Index)
	}
}

func TestListServices(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("worker1", "worker-1")
	web := webSpec("web", 3)
	web.Labels = map[string]string{"tier": "front", "team": "a"}
	e.must(http.StatusCreated, "POST", "/services/create", web, nil)
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("webhook", 1), nil)
	global := webSpec("agent", 0)
	global.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	e.must(http.StatusCreated, "POST", "/services/create", global, nil)

	// Play the orchestrator and agents: two of web's three tasks run, one
	// more was shut down; the global service runs one task.
	ws, ag := e.service("web"), e.service("agent")
	e.propose(
		state.Op{Type: state.OpCreateTasks, ID: ws.ID, SpecVersion: ws.SpecVersion.Index,
			NewTasks: []state.NewTask{{ID: "task1", Slot: 1}, {ID: "task2", Slot: 2}, {ID: "task3", Slot: 3}, {ID: "task4", Slot: 1}}},
		state.Op{Type: state.OpCreateTasks, ID: ag.ID, SpecVersion: ag.SpecVersion.Index,
			NewTasks: []state.NewTask{{ID: "task5", NodeID: "worker1"}}},
		state.Op{Type: state.OpAssignTasks, Assignments: []state.Assignment{{TaskID: "task1", NodeID: "worker1"},
			{TaskID: "task2", NodeID: "worker1"}, {TaskID: "task4", NodeID: "worker1"}, {TaskID: "task5", NodeID: "worker1"}}},
		state.Op{Type: state.OpTaskStatus, ID: "worker1", TaskStatuses: []model.TaskStatusUpdate{
			{TaskID: "task1", Status: model.TaskStatus{State: model.TaskStateRunning}},
			{TaskID: "task2", Status: model.TaskStatus{State: model.TaskStateRunning}},
			{TaskID: "task4", Status: model.TaskStatus{State: model.TaskStateRunning}},
			{TaskID: "task5", Status: model.TaskStatus{State: model.TaskStateRunning}}}},
		state.Op{Type: state.OpSetTasksDesired, IDs: []string{"task4"}, DesiredState: model.TaskStateShutdown},
	)

	list := func(query string) map[string]swarm.Service {
		t.Helper()
		var out []swarm.Service
		e.must(http.StatusOK, "GET", "/v1.41/services?"+query, nil, &out)
		m := map[string]swarm.Service{}
		for _, s := range out {
			m[s.Spec.Name] = s
		}
		return m
	}
	names := func(m map[string]swarm.Service) string {
		var n []string
		for k := range m {
			n = append(n, k)
		}
		return strings.Join(sorted(n), ",")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "agent,web,webhook"},
		{filters("name", "web"), "web,webhook"},
		{filters("name", "WEBH"), "webhook"},
		{filters("id", ws.ID[:4]), "web"},
		{filters("id", ws.ID), "web"},
		{filters("label", "tier"), "web"},
		{filters("label", "tier=front", "label", "team=a"), "web"},
		{filters("label", "tier=back"), ""},
		{filters("mode", "global"), "agent"},
		{filters("mode", "replicated"), "web,webhook"},
		{filters("mode", "replicated-job"), ""},
		{filters("runtime", "container"), "agent,web,webhook"},
		{filters("name", "web", "mode", "global"), ""},
	} {
		if got := names(list(tc.query)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.query, got, tc.want)
		}
	}

	all := list("status=true")
	if st := all["web"].ServiceStatus; st == nil || st.RunningTasks != 2 || st.DesiredTasks != 3 {
		t.Errorf("web status %+v", st)
	}
	if st := all["agent"].ServiceStatus; st == nil || st.RunningTasks != 1 || st.DesiredTasks != 1 {
		t.Errorf("agent status %+v", st)
	}
	if st := all["webhook"].ServiceStatus; st == nil || st.RunningTasks != 0 || st.DesiredTasks != 1 {
		t.Errorf("webhook status %+v", st)
	}
	if st := list("")["web"].ServiceStatus; st != nil {
		t.Errorf("status without status=true: %+v", st)
	}

	for _, tc := range []struct{ query, msg string }{
		{filters("colour", "red"), "invalid value for parameter filters: \"colour\": want a filter this endpoint accepts"},
		{filters("mode", "batch"), "invalid value for parameter filters: \"mode=batch\": want mode=replicated, mode=global, mode=replicated-job or mode=global-job"},
		{"filters=%7Bnope", "invalid"},
		{"status=maybe", "invalid value for parameter status: \"maybe\": want true or false"},
	} {
		if r := e.do("GET", "/services?"+tc.query, nil); r.status != http.StatusBadRequest || !strings.Contains(r.message(), tc.msg) {
			t.Errorf("%s: %d %s", tc.query, r.status, r.body)
		}
	}
}

func TestServiceReferences(t *testing.T) {
	e := newEnv(t, 1)
	spec, err := serviceState(webSpec("alpha", 1))
	if err != nil {
		t.Fatal(err)
	}
	beta := spec.Copy()
	beta.Name = "beta"
	// IDs chosen to share a prefix.
	e.propose(
		state.Op{Type: state.OpCreateService, Service: &model.Service{ID: "abc0000000000000000000001", Spec: spec}},
		state.Op{Type: state.OpCreateService, Service: &model.Service{ID: "abd0000000000000000000002", Spec: beta}},
	)
	for _, tc := range []struct {
		ref    string
		status int
		want   string
	}{
		{"abc0000000000000000000001", 200, "alpha"},
		{"alpha", 200, "alpha"},
		{"ALPHA", 200, "alpha"},
		{"abc", 200, "alpha"},
		{"abd0", 200, "beta"},
		{"ab", 400, "service ab is ambiguous (2 matches found)"},
		{"zzz", 404, "service zzz not found"},
	} {
		r := e.do("GET", "/services/"+tc.ref, nil)
		if r.status != tc.status {
			t.Errorf("%s: %d %s", tc.ref, r.status, r.body)
			continue
		}
		if tc.status != 200 {
			if r.message() != tc.want {
				t.Errorf("%s: %q, want %q", tc.ref, r.message(), tc.want)
			}
			continue
		}
		var s swarm.Service
		r.decode(t, &s)
		if s.Spec.Name != tc.want {
			t.Errorf("%s: %s, want %s", tc.ref, s.Spec.Name, tc.want)
		}
	}
	// A service named like another's ID prefix: the name wins, as in
	// Docker.
	gamma := spec.Copy()
	gamma.Name = "abd"
	e.propose(state.Op{Type: state.OpCreateService, Service: &model.Service{ID: "xyz0000000000000000000003", Spec: gamma}})
	if s := getService(e, "abd"); s.ID != "xyz0000000000000000000003" {
		t.Errorf("abd resolved to %s", s.ID)
	}
}
