// Package scheduler assigns pending tasks to nodes. It has two layers:
//
//   - the placement core (PlaceTasks, NodeInfo, the filters): it chooses a
//     node for each pending task of a group, or says why none fits. It is
//     pure: no store, no Raft, no clock of its own;
//   - the Scheduler, which runs on the Raft leader: it keeps NodeInfos
//     from the store's change feed, places the pending tasks with the core
//     and commits each pass's decisions in one Raft write. See "The
//     Scheduler" below.
//
// # Flow
//
// For a group of tasks of one service at one spec version, PlaceTasks runs
// in three steps (README.md has a diagram):
//
//  1. Filter. A Pipeline runs the filters over every node once for the
//     whole group: they share a spec. In order: ReadyFilter (status ready
//     and availability active), MemoryFilter, CPUFilter, ConstraintFilter,
//     PlatformFilter, HostPortFilter, MaxReplicasFilter. Each node refused
//     is counted under the first filter that refused it. Filters whose
//     verdict depends on the node's tasks (CapacityFilter) also say how many
//     tasks of the group the node can take: its room.
//  2. Divide by placement preferences, if any: see "Preferences".
//  3. Rank with the service's strategy (see "Ranking") using a heap, one
//     task at a time; a node whose room reaches zero leaves the heap. The
//     cost is O(N·F + (T+N) log N) for T tasks, N nodes and F filters.
//     Spread needs no heap for a batch of more tasks than nodes: the nodes
//     with the fewest tasks of the service take one each, in order, and
//     move up to the next count merged with those already there, which is
//     the heap's sequence in O(N·F + T + N log N).
//
// Tasks left over get Docker's message, built from the counts of step 1
// and of the nodes that filled up in step 3, parts in filter order:
//
//	no suitable node (1 node not available for new tasks; 2 nodes insufficient memory)
//
// A task with a NodeID, as a global service's tasks are, is pinned: it is
// only checked against its node, before the other tasks of the group, and
// its message speaks of that one node.
//
// # Ranking
//
// Filtering decides which nodes can take a task; ranking orders them. Both
// strategies put last any node where FailureThreshold (5) tasks of the
// service failed within FailureWindow (5 minutes): replacements go
// elsewhere, yet the node is used when nothing else fits. Node IDs break
// the last ties, so a placement does not depend on the order of the nodes.
//
// spread (the default, Docker's behaviour): the node with the fewest active
// tasks of the service, then the fewest active tasks overall.
//
// binpack: the node with the least room, room being the number of further
// tasks of this group the node accepts under the capacity filters
// (min over memory and CPU of unreserved/reserved-per-task, max replicas
// minus the service's tasks there, 1 if the task publishes host ports, and
// unlimited when none applies); then the most tasks of the service, then
// the most active tasks overall. The fullest node that fits fills up first
// and empty nodes stay empty for large tasks. A group without reservations,
// max replicas or ports has unlimited room everywhere and binpacks onto one
// node: set reservations or max replicas.
//
// # Preferences
//
// Placement preferences (spread=node.labels.zone; several nest, in order)
// build a tree: one level per preference, one branch per value, nodes
// lacking the label in the branch "". Branches hold the candidate nodes of
// step 1; a branch without any does not exist. At each level tasks go one
// at a time to the branch with the fewest active tasks of the service that
// still has room, ties to the smaller value: water-filling, counting the
// service's tasks already there, those on nodes the filters refused (a
// paused node in zone a still counts for zone a). Within a leaf the strategy
// ranks the nodes.
//
// # Keeping NodeInfos
//
// The caller owns one NodeInfo per node and keeps it up to date:
//
//   - from a store snapshot: NewNodeInfo for each node, then AddTask for
//     every task with a NodeID;
//   - on the change feed: node created: NewNodeInfo; node updated: SetNode;
//     node deleted: drop its NodeInfo; task created or updated: AddTask on
//     its node's NodeInfo (idempotent; a terminated task is removed); task
//     deleted: RemoveTask; task became failed or rejected: TaskFailed.
//
// A task occupies a node from assigned to running: pending tasks, even
// pinned ones, do not count until assigned.
//
// # Placing a batch
//
// The Scheduler's pass (loop.go) places the pending tasks group by group
// (by service and spec version), applying each group's placements to the
// NodeInfos before it places the next, as AddTask of each task assigned
// there would (node by node: a NodeInfo's task map stays in the cache for
// all of its tasks), so the next group sees the resources taken; it writes
// the whole pass in one Raft command and, if the write fails, takes the
// placements back with RemoveTask. A task left unplaced whose explanation
// did not change is not written. When the write commits, the change feed
// shows the same tasks again, assigned where the pass counted them, and
// nothing changes.
//
// # The Scheduler
//
// It owns the NodeInfos and the pending tasks of one leadership and
// does the above on its own:
//
//	store change feed (nodes, services, tasks; heartbeats filtered out)
//	    -> NodeInfos (AddTask, RemoveTask, SetNode, TaskFailed)
//	    -> pending groups (state PENDING, desired RUNNING, by service and
//	       spec version)
//	    -> debounce: a pass Config.Debounce after the last change worth
//	       one, at most Config.MaxDelay after the first
//	    -> pass: drain the feed, PlaceTasks per group in a fixed order,
//	       each group's placements counted on their nodes for the next
//	    -> one Command: OpAssignTasks (placed) + OpTaskPending ("no
//	       suitable node (...)" where it changed) -> state.Proposer (Raft)
//
// A pass places the groups that gained tasks, or every group after a node
// changed (created, deleted, status, availability, labels, resources) or
// a task left a node: nothing is polled, and an unplaceable task whose
// explanation stays the same costs no write (the explanation is the task's
// Status.Message, which OpTaskPending sets, compared with Decision.Err). The placements count on their
// nodes until the feed shows the tasks: a pass's write is applied before
// the next pass drains the feed, so a placement the store skipped (its
// task or node went away meanwhile) is taken back then and the task placed
// again. If the write fails (no quorum, lost leadership, timeout) the
// placements are taken back and the pass is retried after a backoff
// (Config.RetryBackoff doubling up to MaxRetryBackoff) that later changes
// do not shorten. On state.ErrResync the loop starts again from a new
// snapshot. A new loop counts the failures it finds in the store within
// FailureWindow, so a new leader keeps avoiding a failing node.
//
// The manager starts it in the Raft node's leader hook, so that it moves
// with leadership:
//
//	cfg := scheduler.DefaultConfig()
//	cfg.Logger = logger
//	s := scheduler.New(node.Store(), node, cfg)
//	node.OnLeader(func(ctx context.Context) {
//		if err := s.Run(ctx); err != nil {
//			logger.Error("scheduler", "err", err)
//		}
//	})
//	...
//	s.Stop() // on shutdown, before the Raft node
//
// Run returns nil when the leadership's context ends. The store must be the one
// the proposer's writes are applied to before Propose returns (the Raft
// node's own).
//
// # Concurrency
//
// PlaceTasks only reads the NodeInfos: several may run at once on the same
// NodeInfos, but not while one is being modified. Filters and Pipelines are
// stateful and belong to one goroutine.
//
// # Validation
//
// ParseConstraints and ValidatePlacement report, with the expression at
// fault, what the API should refuse when a service is created or updated.
// A task that reaches PlaceTasks with an invalid placement anyway is not
// placed and its Err says why.
package scheduler
