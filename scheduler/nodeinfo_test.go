package scheduler

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func TestNodeInfoTracksTaskLifecycle(t *testing.T) {
	ni := NewNodeInfo(mkNode("n1", resources(4, 8*gib)))
	task := mkTask("t1", "web", reserve(1, gib), hostPorts(80))

	expect := func(step string, changed, wantChanged bool, active, web int, res model.Resources, port bool) {
		t.Helper()
		if changed != wantChanged {
			t.Errorf("%s: changed = %v, want %v", step, changed, wantChanged)
		}
		if ni.ActiveTasks() != active || ni.ServiceTasks("web") != web {
			t.Errorf("%s: active %d, web %d; want %d, %d", step, ni.ActiveTasks(), ni.ServiceTasks("web"), active, web)
		}
		if ni.Reserved() != res {
			t.Errorf("%s: reserved %+v, want %+v", step, ni.Reserved(), res)
		}
		if ni.HostPortInUse("tcp", 80) != port || ni.HostPortInUse("", 80) != port {
			t.Errorf("%s: port 80 in use = %v, want %v", step, ni.HostPortInUse("tcp", 80), port)
		}
	}
	none := model.Resources{}
	held := model.Resources{NanoCPUs: core, MemoryBytes: gib}

	expect("pending, unassigned", ni.AddTask(task), false, 0, 0, none, false)
	task.NodeID = "n1"
	expect("pending, pinned", ni.AddTask(task), false, 0, 0, none, false)
	task.Status.State = model.TaskStateAssigned
	expect("assigned", ni.AddTask(task), true, 1, 1, held, true)
	expect("assigned again", ni.AddTask(task), false, 1, 1, held, true)
	task.Status.State = model.TaskStateRunning
	expect("running", ni.AddTask(task), false, 1, 1, held, true)
	task.DesiredState = model.TaskStateShutdown
	expect("desired shutdown", ni.AddTask(task), true, 0, 0, held, true)
	task.Status.State = model.TaskStateShutdown
	expect("shut down", ni.AddTask(task), true, 0, 0, none, false)
	expect("shut down again", ni.AddTask(task), false, 0, 0, none, false)

	other := mkTask("t2", "web", reserve(0.5, mib), runningOn("n1"))
	expect("other added", ni.AddTask(other), true, 1, 1, model.Resources{NanoCPUs: core / 2, MemoryBytes: mib}, false)
	if got := ni.Available(); got != (model.Resources{NanoCPUs: 3.5 * 1e9, MemoryBytes: 8*gib - mib}) {
		t.Errorf("Available = %+v", got)
	}
	expect("other removed", ni.RemoveTask("t2"), true, 0, 0, none, false)
	expect("other removed again", ni.RemoveTask("t2"), false, 0, 0, none, false)

	elsewhere := mkTask("t3", "web", runningOn("n2"))
	expect("task of another node", ni.AddTask(elsewhere), false, 0, 0, none, false)
}

func TestNodeInfoSetNodeKeepsTasks(t *testing.T) {
	ni := NewNodeInfo(mkNode("n1", resources(4, 8*gib)))
	ni.AddTask(mkTask("t1", "web", reserve(1, gib), runningOn("n1")))
	ni.SetNode(mkNode("n1", resources(2, 2*gib), availability(model.AvailabilityDrain)))
	if ni.ServiceTasks("web") != 1 || ni.Available() != (model.Resources{NanoCPUs: core, MemoryBytes: gib}) {
		t.Errorf("after SetNode: web %d, available %+v", ni.ServiceTasks("web"), ni.Available())
	}
	if ni.Node().Spec.Availability != model.AvailabilityDrain {
		t.Error("SetNode did not replace the node")
	}
}

func TestNodeInfoRecentFailures(t *testing.T) {
	ni := NewNodeInfo(mkNode("n1"))
	for i := range 4 {
		ni.TaskFailed("web", t0.Add(time.Duration(i)*time.Minute))
	}
	now := t0.Add(4 * time.Minute)
	if got := ni.RecentFailures("web", now); got != 4 || ni.failing("web", now) {
		t.Fatalf("4 failures: RecentFailures = %d, failing = %v", got, ni.failing("web", now))
	}
	ni.TaskFailed("web", now)
	if !ni.failing("web", now) || ni.failing("api", now) {
		t.Fatalf("5 failures in 4 minutes: failing(web) = %v, failing(api) = %v", ni.failing("web", now), ni.failing("api", now))
	}
	// The first failure leaves the window 5 minutes after it happened.
	if ni.failing("web", t0.Add(FailureWindow)) {
		t.Error("still failing once the first failure is 5 minutes old")
	}
	if ni.RecentFailures("web", t0.Add(FailureWindow-time.Nanosecond)) != 5 {
		t.Error("first failure left the window early")
	}
	// Only the last FailureThreshold failures are kept.
	for i := range 100 {
		ni.TaskFailed("web", now.Add(time.Duration(i)*time.Second))
	}
	if n := len(ni.failures["web"]); n != FailureThreshold {
		t.Errorf("kept %d failures, want %d", n, FailureThreshold)
	}
	// Services whose failures aged out are forgotten on the next failure.
	ni.TaskFailed("api", now.Add(time.Hour))
	if _, ok := ni.failures["web"]; ok {
		t.Error("aged-out failures of web kept")
	}
}
