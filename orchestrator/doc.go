// Package orchestrator keeps every service's tasks in line with its spec.
// It runs on the Raft leader only and never places tasks: it creates,
// stops and deletes them, and the scheduler and agents do the rest.
//
// # Where it sits
//
//	API (service create/update/rollback/delete, node update)
//	    -> Raft log -> state.Store
//	    -> change feed (ViewAndWatch, Watcher batches)
//	    -> orchestrator: OpCreateTasks (PENDING, desired RUNNING),
//	       OpSetTasksDesired (SHUTDOWN), OpDeleteTasks,
//	       OpServiceUpdateStatus, OpRollbackService
//	    -> scheduler: OpAssignTasks (node of PENDING tasks)
//	    -> dispatcher/agents: OpTaskStatus (observed state)
//	    -> change feed -> orchestrator ...
//
// Who owns which field:
//
//   - Service.Spec, PreviousSpec: the API (and OpRollbackService, which the
//     orchestrator issues for an automatic rollback). The API resets
//     UpdateStatus to nil when it changes the spec, and sets it to
//     rollback_started ("manually requested rollback") for a rollback a user
//     asks for; from then on UpdateStatus is the orchestrator's.
//   - Task creation, Slot, a global task's NodeID, DesiredState (only
//     raised: RUNNING -> SHUTDOWN; REMOVE is set by OpDeleteService), and
//     task deletion: the orchestrator.
//   - The NodeID of replicated tasks and Status up to ASSIGNED: the
//     scheduler. Status from then on: the node's agent.
//   - Node status: the dispatcher. Node spec (availability, labels): the API.
//
// # How it works
//
// One goroutine (Run) watches the store. Each batch of changes marks
// services dirty: the service itself, the service of a task created,
// deleted, ended, asked to stop or moved, the services with tasks on a
// changed node and every global service. A task's progress towards running
// (assigned .. running) marks its service only if the service's last plan
// waits for it (an update, a rollback or a rebalancing in progress, a
// start-first replacement) or the task went to a node it cannot count on:
// while 100,000 tasks start, a steady service is not planned again for
// each status report. A round
// then reads one snapshot, plans each dirty service from scratch (plan:
// what to create, stop, delete, which UpdateStatus to write, and when to
// look again) and writes all the plans in one Raft command, split only when
// it exceeds Config.MaxBatch task changes.
//
// Two limits, for two reasons. Config.MaxBatch bounds the size of one Raft
// entry: the commands of a round are written one after the other, a plan
// larger than MaxBatch split over several of them. Config.MaxRoundChanges
// (10 times as many by default) bounds the task changes one round plans for
// one service, so that a scale to 100,000 replicas is a few rounds, each a
// pass over the service's tasks, rather than one round per MaxBatch, and
// yet no round writes for so long that the loop stops reacting to other
// changes; a service with more to do is looked at again at once. A plan
// makes a task (and its ID) only if it has room for it. A third,
// Config.MaxStartingTasks, paces creation: a service with that many tasks
// on their way to running gets no more until some run, and is looked at
// again every Config.PacingInterval meanwhile.
//
// Before a service is planned, its spec is checked against the cluster's
// limits (model.ServiceSpec.CheckLimits: the API checked them, but a spec
// committed by an older version or written around the API may be over);
// a panic while planning it is recovered. Either way the service is not
// acted on and is marked: UpdateStatus paused with a message starting with
// RefusedMessagePrefix, which goes once the spec or the limit is fixed.
//
// Nothing is polled: besides the change feed, the only wake-ups are timers
// at the times the plans asked for (restart delays, update delays, monitor
// periods, pacing) and the retry backoff.
//
// Decisions are functions of the stored state and Config.Clock: restart
// delays count from the task's status timestamp, update progress is read
// from which tasks are up to date and when they started, UpdateStatus says
// whether an update runs. So a new leader, starting a new Run from a fresh
// snapshot, makes the same decisions as the old one would have, and an
// update, a restart delay or a rollback carries on across a leader change.
// What a loop remembers (when tasks started running, restart attempts past
// the history limit, a rebalancing in progress) is a cache or a
// best-effort refinement.
//
// Every operation checks its preconditions when applied: a task is made
// from the service's spec only if the spec is still the version the round
// read (else state.ErrConflict), desired states only rise. A refused
// operation is retried when the change that beat it arrives, with a
// backoff if refusals repeat; a write that fails as a whole (no quorum,
// lost leadership) is retried with an exponential backoff. The
// orchestrator never spins.
//
// The behaviours, each in its own file: replicated.go (slots 1..N,
// scaling), global.go (one task per eligible node), slots.go (the model of
// a slot: live, stopping, ended, lost and dead tasks; duplicates),
// restart.go (restart policies), update.go (rolling updates, rollbacks,
// UpdateStatus), rebalance.go (moving tasks to new nodes), reaper.go
// (history and removed services), job.go (replicated and global jobs: tasks
// run to completion, at most MaxConcurrent at once, one iteration per spec
// change).
//
// # Using it
//
// Make one Orchestrator per manager and run it for each leadership:
//
//	cfg := orchestrator.DefaultConfig()
//	cfg.Logger = logger
//	o := orchestrator.New(node.Store(), node, cfg)
//	node.OnLeader(func(ctx context.Context) {
//		if err := o.Run(ctx); err != nil {
//			logger.Error("orchestrator", "err", err)
//		}
//	})
//	...
//	o.Stop() // on shutdown, before the Raft node
//
// Run returns when the leadership's context ends. The store must be the one the
// proposer's writes are applied to before Propose returns (the Raft node's
// own), so that each round reads the previous round's writes.
package orchestrator
