// Package agent is the node side of the swarm: it holds a session with the
// leader's dispatcher, runs the tasks assigned to the node on its container
// engine (an exec.Executor) and reports their status. It never accepts a
// connection: everything is pulled from managers over the cluster port
// (HTTP/2, mutual TLS; the protocol is described in package dispatcher).
//
// # Wiring (worker, and managers that run tasks)
//
//	creds, _ := ca.LoadNodeCredentials(stateDir)
//	cli, _ := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
//	ex, _ := dockerexec.New(cli, creds.Identity.NodeID, dockerexec.WithLogger(logger))
//	cfg := agent.DefaultConfig()
//	cfg.DataDir = stateDir
//	cfg.Managers = []string{joinAddr}
//	cfg.TLS = func() (*tls.Config, error) {
//		// reload after a renewal; called for every new connection
//		return ca.ClientTLSConfig(&creds.Certificate, creds.Root)
//	}
//	cfg.Executor = ex
//	cfg.Logger = logger
//	a, err := agent.New(cfg)
//	err = a.Run(ctx) // until ctx ends; containers keep running after it
//
// # Sessions
//
// Run opens a session with a manager of its list, starting at a random
// one. A manager that is not the leader answers 421 with the leader's
// address, which is tried at once. While an election is under way (a 503,
// or a 421 naming the leader that just failed) the agent asks the next
// manager every ~200 ms, so it reaches a new leader well under a second
// after the election. Other failures move on to the next manager after a
// backoff (100 ms doubling to 8 s, ±20 % jitter). The list
// is the managers the last session named (saved in DataDir/managers.json,
// so a restarted agent reaches managers other than the one it joined
// through) followed by Config.Managers. A session ends when its stream
// ends, a heartbeat fails (each has a timeout of two periods) or the
// manager ends it; the agent then reconnects elsewhere. Nothing happens to
// running tasks meanwhile.
//
// During a session the agent sends heartbeats at the period the manager
// sets, reports the engine's state with them (Describe every
// EngineCheckInterval: an engine that does not answer makes the node DOWN
// with the reason until it answers again), and sends status reports in
// batches: every change is queued, one request is in flight at a time, and
// a status stays queued until the manager acknowledges its Raft write, so
// reports survive a leader change.
//
// # Tasks
//
// Each assigned task has a worker goroutine that drives exec.Do from the
// status the manager last knew, so states only move forward and a
// restarted agent adopts its containers: Prepare and Start find their work
// done and Wait picks up the running container. A change of the desired
// state interrupts the step in flight (usually Wait): SHUTDOWN stops the
// container, which stays (stopped) for the task's history; REMOVE, or the
// task leaving the node's assignments (deleted, or no longer the node's),
// removes it. After every full assignment set (the first of each session,
// so also on start), the node's containers are listed through the
// executor (by the node label) and those of tasks not assigned are
// removed. Several agents with different node IDs can share one engine:
// the executor only ever sees its own node's containers.
//
// # Logs
//
// A log subscription on the session makes the agent read the logs of its
// matching tasks from the executor (exec.LogSource) and publish them in
// one streaming request; a follow subscription also picks up matching
// tasks that get a container later, until the manager closes it or the
// session ends.
package agent
