package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

func TestTasks(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("worker1", "worker-1")
	web := webSpec("web", 2)
	web.Labels = map[string]string{"tier": "front"}
	e.must(http.StatusCreated, "POST", "/services/create", web, nil)
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("db", 1), nil)
	ws, db := e.service("web"), e.service("db")

	// Play the orchestrator, scheduler and agent.
	e.propose(
		state.Op{Type: state.OpCreateTasks, ID: ws.ID, SpecVersion: ws.SpecVersion.Index,
			NewTasks: []state.NewTask{{ID: "webtask01", Slot: 1}, {ID: "webtask02", Slot: 2}}},
		state.Op{Type: state.OpCreateTasks, ID: db.ID, SpecVersion: db.SpecVersion.Index,
			NewTasks: []state.NewTask{{ID: "dbtask01", Slot: 1}}},
		state.Op{Type: state.OpAssignTasks, Assignments: []state.Assignment{
			{TaskID: "webtask01", NodeID: "worker1"}, {TaskID: "webtask02", NodeID: "node1"}, {TaskID: "dbtask01", NodeID: "worker1"}}},
		state.Op{Type: state.OpTaskStatus, ID: "worker1", TaskStatuses: []model.TaskStatusUpdate{
			{TaskID: "webtask01", Status: model.TaskStatus{State: model.TaskStateRunning, Message: "started",
				Container: &model.ContainerStatus{ContainerID: "c1", PID: 7}}}}},
	)
	// An image update: web's tasks are no longer up to date.
	s := getService(e, "web")
	s.Spec.TaskTemplate.ContainerSpec.Image = "nginx:1.28"
	e.must(http.StatusOK, "POST", "/services/web/update?version="+itoa(s.Version.Index), s.Spec, nil)
	ws = e.service("web")
	e.propose(
		state.Op{Type: state.OpSetTasksDesired, IDs: []string{"webtask02"}, DesiredState: model.TaskStateShutdown},
		state.Op{Type: state.OpCreateTasks, ID: ws.ID, SpecVersion: ws.SpecVersion.Index,
			NewTasks: []state.NewTask{{ID: "webtask03", Slot: 2}}},
	)

	list := func(query string) string {
		t.Helper()
		var out []swarm.Task
		e.must(http.StatusOK, "GET", "/v1.41/tasks?"+query, nil, &out)
		var ids []string
		for _, t := range out {
			ids = append(ids, t.ID)
		}
		return strings.Join(sorted(ids), ",")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "dbtask01,webtask01,webtask02,webtask03"},
		{filters("service", "web"), "webtask01,webtask02,webtask03"},
		{filters("service", ws.ID), "webtask01,webtask02,webtask03"},
		{filters("service", ws.ID[:6]), "webtask01,webtask02,webtask03"},
		{filters("service", "web", "service", "db"), "dbtask01,webtask01,webtask02,webtask03"},
		{filters("node", "worker-1"), "dbtask01,webtask01"},
		{filters("node", "node1"), "webtask02"},
		{filters("node", "worker-1", "service", "web"), "webtask01"},
		{filters("desired-state", "running"), "dbtask01,webtask01,webtask03"},
		{filters("desired-state", "shutdown"), "webtask02"},
		{filters("desired-state", "running", "desired-state", "shutdown"), "dbtask01,webtask01,webtask02,webtask03"},
		{filters("_up-to-date", "true", "service", ws.ID), "webtask03"},
		{filters("_up-to-date", "true"), "dbtask01,webtask03"},
		{filters("id", "webtask0"), "webtask01,webtask02,webtask03"},
		{filters("name", "web.2"), "webtask02,webtask03"},
		{filters("label", "tier=front"), "webtask01,webtask02,webtask03"},
		{filters("label", "tier=back"), ""},
		{filters("runtime", "container"), "dbtask01,webtask01,webtask02,webtask03"},
		{filters("runtime", "plugin"), ""},
	} {
		if got := list(tc.query); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.query, got, tc.want)
		}
	}
	for _, tc := range []struct {
		query  string
		status int
		msg    string
	}{
		{filters("service", "nope"), 404, "service nope not found"},
		{filters("node", "nope"), 404, "node nope not found"},
		{filters("desired-state", "dancing"), 400, "invalid value for parameter filters: \"desired-state=dancing\""},
		{filters("slot", "1"), 400, "invalid value for parameter filters: \"slot\""},
	} {
		if r := e.do("GET", "/tasks?"+tc.query, nil); r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
			t.Errorf("%s: %d %s", tc.query, r.status, r.body)
		}
	}

	var task swarm.Task
	e.must(http.StatusOK, "GET", "/v1.41/tasks/webtask01", nil, &task)
	if task.ServiceID != ws.ID || task.Slot != 1 || task.NodeID != "worker1" || task.Status.State != swarm.TaskStateRunning ||
		task.DesiredState != swarm.TaskStateRunning || task.Status.ContainerStatus == nil || task.Status.ContainerStatus.ContainerID != "c1" ||
		task.Spec.ContainerSpec.Image != "nginx:1.27" {
		t.Errorf("task %+v", task)
	}
	e.must(http.StatusOK, "GET", "/tasks/dbtask", nil, &task)
	if task.ID != "dbtask01" {
		t.Errorf("by prefix: %s", task.ID)
	}
	for _, tc := range []struct {
		ref    string
		status int
		msg    string
	}{
		{"webtask0", 400, "task webtask0 is ambiguous (3 matches found)"},
		{"nope", 404, "task nope not found"},
	} {
		if r := e.do("GET", "/tasks/"+tc.ref, nil); r.status != tc.status || r.message() != tc.msg {
			t.Errorf("%s: %d %s", tc.ref, r.status, r.body)
		}
	}
}
