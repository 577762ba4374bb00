// Package dispatcher is the manager side of agent sessions: it tells each
// node which tasks it runs, takes the nodes' status reports, decides when a
// node is READY or DOWN, and brokers `docker service logs`.
//
// Everything is pulled by nodes: an agent opens a session with a manager
// over the cluster port (HTTP/2, mutual TLS) and keeps it open; managers
// never connect to nodes. The agent side is package agent; the wire types
// and a client are in dispatcher/protocol.
//
// # Wiring (manager)
//
//	cfg := dispatcher.DefaultConfig()
//	cfg.Identify = dispatcher.PeerIdentity // the verified client certificate
//	cfg.Leader = raftNode.Leader
//	cfg.ManagerClient = managerHTTPClient // this manager's certificate: SubscribeLogs on followers
//	cfg.Logger = logger
//	d := dispatcher.New(raftNode.Store(), raftNode, cfg)
//	clusterMux.Handle(protocol.PathPrefix, d.Handler()) // "/dispatcher/v1/", prefix kept
//	raftNode.OnLeader(func(ctx context.Context) {
//		if err := d.Run(ctx); err != nil {
//			logger.Error("dispatcher", "err", err)
//		}
//	})
//	...
//	d.Stop() // on shutdown, before the Raft node
//
// The HTTP server of the cluster port must not set WriteTimeout: session
// streams last as long as the node is up (the dispatcher clears the read
// deadline of a stream and sets its own write deadline per message).
//
// # Only the leader serves
//
// Run serves for one leadership. Every manager mounts the handler;
// one whose dispatcher is not running answers every request with 421
// Misdirected Request and a JSON body naming the leader (leader_id,
// leader_addr: the leader's cluster address from its manager node in the
// store), or 503 while no leader is known. The agent goes to that
// address. This was chosen over proxying sessions through followers: a
// follower would hold thousands of streams it can only relay, statuses
// would take an extra hop before reaching the Raft leader, and liveness
// would be judged by a manager that is not the one writing it. The cost,
// reconnecting on a leader change, is paid once per election, and nodes
// get LeaderChangeGrace to do it.
//
// # Protocol
//
// All paths are under /dispatcher/v1/nodes/{node}/, where {node} must be
// the caller's node ID, the CN of its verified client certificate: a node
// may only open its own session, report its own tasks and read its own
// assignments. Bodies are JSON; durations are nanoseconds. Every answer
// that is not 2xx has the body {"message": "..."} (plus leader_id and
// leader_addr in a 421).
//
//	POST session        body SessionRequest{description, engine_error}
//	                    200: a stream of Message, one JSON object per line
//	                    (application/x-ndjson), open until either side ends it
//	POST heartbeat      body {session_id, engine_error}; 200 {period}
//	POST status         body {session_id, updates: [{task_id, status}]};
//	                    204 once the updates are committed to Raft
//	GET  tasks          200 {tasks}: the node's assignments, read once
//	POST logs/{sub}     body: a stream of LogPublication lines, the node's
//	                    part of log subscription {sub}; 204 at its end
//
// and, for managers only (certificate role manager), not under nodes/:
//
//	POST /dispatcher/v1/logs   body {selector, options}; 200: a stream of
//	                           LogMessage lines until the subscription ends
//
// Status codes: 400 malformed body; 401 no (valid) client certificate;
// 403 a path, session or task of another node, or a node not in the
// cluster; 404 a session that no longer exists (open a new one) or an
// ended log subscription; 410 a log subscription that has finished; 421
// not the leader (go to leader_addr); 503 no leader yet, or the Raft write
// of a status batch failed (retry).
//
// The session stream starts with, in this order:
//
//	{"type":"session","session":{"id":..., "heartbeat_period":...}}
//	{"type":"managers","managers":[{"id","addr"}, ...]}    // manager nodes
//	{"type":"node","node":{"id","role","spec"}}
//	{"type":"assignments","assignments":{"full":true,"tasks":[...]}}
//
// then carries, as they happen: assignments changes
// ({"tasks": added or changed, "removed": [IDs]}), managers and node
// messages when those change, and {"type":"logs","logs":{id, selector,
// options, close}} log subscriptions. A node's assignments are the tasks
// assigned to it (NodeID set, status ASSIGNED or later) with their desired
// state; a full set replaces whatever the node knew (it is sent again
// after the dispatcher's change feed overflows). Changes to a node's tasks
// are coalesced for AssignmentDelay (5 ms) and a change of the observed
// status alone, the node's own report coming back, is not sent.
//
// # Liveness
//
// A session makes its node READY (OpNodeStatus, with the description and
// the address the session comes from). A node must then send a heartbeat
// every period (the cluster spec's Dispatcher.HeartbeatPeriod, default
// 1 s, stretched to nodes/MaxHeartbeatRate seconds past 500 nodes so the
// leader gets at most 500 heartbeats a second; answers carry the current
// period). It is marked DOWN, "heartbeat
// failure", after GraceMultiplier (3) periods without one, and its session
// is ended. A session whose stream closes (the agent died, its connection
// dropped) gives the node CloseGrace (1 s) to open a new one before it is
// marked DOWN, "session closed": a killed worker is DOWN in the store about
// a second later. A node that reports that its container engine is
// unavailable (engine_error in a session request or heartbeat) is DOWN with
// that message until it reports it back. After a leader change every node
// not already DOWN has LeaderChangeGrace (6 s) plus nodes/ReconnectRate
// (one second per 200 nodes) to open a session with the new leader: a
// thousand agents reconnecting at once cost the new leader a thousand TLS
// handshakes. MarkDown marks a node DOWN at once (for the gossip layer).
// Opening a second session for a node ends the first.
//
// # Writes
//
// Node statuses and task status reports from all sessions are collected
// for StatusBatchInterval (50 ms) and written in one Raft command: one
// OpNodeStatus for all nodes and one OpTaskStatus per node, split past
// MaxBatch updates. A newer report of a task supersedes an older one
// still queued; reports the store already shows are dropped. A status
// request is answered once its batch is committed, so an agent keeps a
// report until it is acknowledged and sends it again to the next leader.
//
// # Fan-out
//
// One store watcher serves every session. The leadership's goroutine indexes
// tasks by node and routes each change to the session of its node, where
// it replaces any pending change of the same task; each session's stream
// goroutine writes what is pending. A slow node therefore holds at most one
// pending change per task and never delays the others. The tests serve
// 1,000 sessions, each with its own TLS connection and heartbeats every
// second, from one dispatcher.
//
// # Logs
//
// SubscribeLogs finds the nodes with matching tasks, sends each of them
// the subscription on its session, and returns a channel of the lines the
// nodes publish back (POST logs/{sub}). A node that is not connected, or
// disconnects, ends its part with a message whose Err is set. Without
// Follow the channel closes once every involved node has finished; with
// Follow, lines keep coming (also from matching tasks that start later,
// and from nodes that reconnect) until the subscriber's context ends.
// On a manager that does not lead, SubscribeLogs forwards the subscription
// to the leader (POST /dispatcher/v1/logs, with Config.ManagerClient), so
// the API can call it on any manager; without a ManagerClient it returns
// ErrNotLeader there.
package dispatcher
