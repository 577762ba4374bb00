package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// jobTasks returns a service's tasks of the current iteration by state.
func jobTasks(e *env, name string) (svc *model.Service, byState map[model.TaskState]int, total int) {
	byState = map[model.TaskState]int{}
	e.read(func(tx state.ReadTx) {
		ss, _ := tx.FindServices(state.ByName(name))
		if len(ss) != 1 {
			return
		}
		svc = ss[0]
		_ = tx.ForEachTask(state.ByServiceID(svc.ID), func(t *model.Task) bool {
			total++
			if model.TaskUpToDate(t, svc) {
				byState[t.Status.State]++
			}
			return true
		})
	})
	return svc, byState, total
}

// waitJob waits until a job's current iteration has n complete tasks.
func waitJob(t *testing.T, e *env, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		_, st, _ := jobTasks(e, name)
		if st[model.TaskStateComplete] == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %v complete of %d wanted", name, st, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDockerCLIJobs runs jobs with the stock docker CLI: a replicated job
// followed to completion, a failing one retried within its restart
// policy, a global job that also runs on a node joining later, and an
// update that starts a new iteration.
func TestDockerCLIJobs(t *testing.T) {
	e, d := startDockerCLI(t)

	// Without -d the CLI follows the job's progress until every
	// completion is in (without a terminal it prints no progress bars,
	// only the active tasks).
	out := d.ok("service", "create", "--name", "batch", "--mode", "replicated-job", "--replicas", "3",
		"--max-concurrent", "2", "batch:1")
	wantContains(t, "job create progress", out, "1/3:", "3/3:", "active tasks: 0 out of 2 tasks", "active tasks: 0 out of 0 tasks", "job complete")
	svc, st, total := jobTasks(e, "batch")
	if st[model.TaskStateComplete] != 3 || total != 3 {
		t.Fatalf("after the job: %v of %d tasks", st, total)
	}
	out = d.ok("service", "ls")
	wantContains(t, "service ls", out, "batch", "replicated job", "0/0 (3/3 completed)")
	out = d.ok("service", "ps", "batch")
	wantContains(t, "service ps", out, "batch.1", "batch.2", "Complete", "Complete ")
	var inspected []swarm.Service
	if err := json.Unmarshal([]byte(d.ok("service", "inspect", "batch")), &inspected); err != nil || len(inspected) != 1 ||
		inspected[0].Spec.Mode.ReplicatedJob == nil || *inspected[0].Spec.Mode.ReplicatedJob.MaxConcurrent != 2 ||
		*inspected[0].Spec.Mode.ReplicatedJob.TotalCompletions != 3 || inspected[0].JobStatus == nil ||
		inspected[0].JobStatus.JobIteration.Index != svc.SpecVersion.Index {
		t.Fatalf("service inspect: %v %+v", err, inspected)
	}

	// An update runs the job again from the new spec, a new iteration;
	// the old iteration's tasks are retired.
	out = d.ok("service", "update", "--image", "batch:2", "batch")
	wantContains(t, "job update progress", out, "active tasks: 0 out of 0 tasks", "job complete")
	updated, st, total := jobTasks(e, "batch")
	if updated.JobStatus.JobIteration.Index <= svc.JobStatus.JobIteration.Index || st[model.TaskStateComplete] != 3 || total != 3 {
		t.Fatalf("after the update: iteration %d (was %d), %v of %d tasks", updated.JobStatus.JobIteration.Index,
			svc.JobStatus.JobIteration.Index, st, total)
	}
	errOut := d.fails("service", "rollback", "batch")
	wantContains(t, "rollback of a job", errOut, "jobs cannot be rolled back")

	// Failures are retried up to the restart policy's attempts, and the
	// job stays incomplete.
	d.ok("service", "create", "-d", "--name", "broken", "--mode", "replicated-job",
		"--restart-max-attempts", "2", "--restart-delay", "0s", "fail:1")
	deadline := time.Now().Add(waitTimeout)
	for {
		_, st, _ := jobTasks(e, "broken")
		if st[model.TaskStateFailed] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broken job: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if _, st, total := jobTasks(e, "broken"); total != 3 || st[model.TaskStateFailed] != 3 {
		t.Fatalf("broken job after its attempts: %v of %d tasks, want the run and 2 retries", st, total)
	}
	out = d.ok("service", "ps", "broken")
	wantContains(t, "service ps of a failed job", out, "Failed", "task: non-zero exit (1)")
	out = d.ok("service", "ls", "--filter", "mode=replicated-job")
	wantContains(t, "service ls of jobs", out, "(0/1 completed)", "(3/3 completed)")

	// A global job runs once on each node, and on a node that joins later.
	d.ok("service", "create", "-d", "--name", "migrate", "--mode", "global-job", "migrate:1")
	waitJob(t, e, "migrate", 2)
	e.addWorker("wrk0000000000000000000003", "node-3", func(n *model.Node) { n.Status.Addr = "10.0.0.3" })
	waitJob(t, e, "migrate", 3)
	time.Sleep(300 * time.Millisecond)
	if _, st, total := jobTasks(e, "migrate"); total != 3 || st[model.TaskStateComplete] != 3 {
		t.Fatalf("global job: %v of %d tasks, want one completion per node", st, total)
	}
	out = d.ok("service", "ls", "--filter", "name=migrate")
	wantContains(t, "service ls of a global job", out, "global job", "0/0 (3/3 completed)")
	out = d.ok("service", "ps", "migrate")
	wantContains(t, "service ps of a global job", out, "node-3", "Complete")
	if strings.Count(out, "Complete") < 6 {
		t.Errorf("service ps: want desired and current state Complete on 3 nodes:\n%s", out)
	}
}
