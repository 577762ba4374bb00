// Package exec is the boundary between the agent and a node's container
// runtime: a small Controller interface per task, the Do function that
// drives it as a forward-only state machine, and the Executor interface
// that makes controllers and describes the node. The Docker implementation
// is in agent/exec/dockerexec.
//
// # Task states
//
// A task's observed state only moves forward (model.TaskState is ordered):
//
//	ASSIGNED -> ACCEPTED -> PREPARING -> READY -> STARTING -> RUNNING
//	                           |                      |           |
//	                        REJECTED               FAILED   COMPLETE/FAILED
//
//	any non-terminal state -> SHUTDOWN   (desired state >= SHUTDOWN)
//
// Each call of Do makes one step. Steps without runtime work (ACCEPTED,
// PREPARING, STARTING) are reported too, so that managers and users see
// where a task is. Prepare errors that are not temporary REJECT the task
// (it can never run on this node: image missing and not pullable, invalid
// mount); Start and Wait errors FAIL it. Temporary errors are retried.
//
// # Driving a task (what the agent does)
//
// One goroutine per task owns the task's controller:
//
//	ctlr, err := executor.Controller(task)
//	if err != nil {
//		// report REJECTED with err.Error() as TaskStatus.Err; stop.
//	}
//	defer ctlr.Close()
//	for {
//		ctx, cancel := context.WithCancel(parent) // cancelled when the task changes
//		status, err := exec.Do(ctx, task, ctlr)
//		cancel()
//		if status differs from task.Status {
//			report status; task.Status = *status
//		}
//		switch {
//		case err == nil:                       // moved: go on at once
//		case errors.Is(err, exec.ErrTaskNoop):  // wait for a task update
//		case errors.Is(err, exec.ErrTaskRetry): // back off (100 ms .. 8 s), then go on
//		default:                                // bug (closed controller, bad state): log, stop
//		}
//	}
//
// When the manager changes the task (typically its desired state to
// SHUTDOWN), cancel the Do in flight, which is usually blocked in Wait,
// and call Do again with the updated task: it calls Shutdown and reports
// SHUTDOWN. Never call Shutdown or Terminate beside a Do in flight: Wait
// would see the exit and report COMPLETE or FAILED instead.
//
// Once the task is terminal and its desired state is REMOVE, or it is no
// longer assigned to the node, call ctlr.Remove(ctx) then ctlr.Close(). A
// FAILED task may still have a stopped container until then; an unhealthy
// one has been stopped by the controller.
//
// # Adoption after an agent restart
//
// Executor.Containers lists the node's containers with their task IDs.
// For each assigned task, make a controller and run the loop above from
// the task's last reported status: Prepare and Start answer
// ErrTaskPrepared and ErrTaskStarted for work already done, and Wait picks
// up a running container or reports how it exited. Containers whose task
// is no longer assigned are removed with Executor.RemoveContainer.
//
// # Logs
//
// Executors that implement LogSource return a container's output as lines
// tagged with their stream; ParseLogLine splits them.
package exec
