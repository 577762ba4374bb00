// Package manager wires one manager process: a Raft member holding the
// swarm state, the cluster port, the control API and the components that
// run on the leader only. Package daemon runs it beside the node's agent
// and gossip; cmd/manager is the binary.
//
// # Creating and opening
//
// Init makes a new cluster in an empty data dir (root CA, join tokens,
// the cluster object kept in bootstrap.json until Raft commits it), Join
// joins one through a manager with a manager token, Open reopens a data
// dir, and ForceNewCluster reopens one as the only voter of its Raft
// group. None of them starts anything: Run does.
//
// # Startup order (Run)
//
//  1. The cluster port: a TCP listener behind mutual TLS (transport.Mux),
//     which routes Raft connections and HTTP by ALPN.
//  2. The Raft node (state/raft) over that port, with the store as its
//     FSM, and the leader hooks registered on it (below).
//  3. The cluster port's HTTP server: the CA endpoints (ca/caserver),
//     Raft forwarding, reads and joins (managers only), the dispatcher.
//  4. On a fresh `init`, the Raft bootstrap: this node becomes the only
//     voter and soon leader.
//  5. The data key's wrapping watcher (autolock) and the control API
//     (unix socket, or TCP with mutual TLS).
//  6. On `join`, adding this node to the Raft configuration through the
//     leader, in the background.
//
// Ready is closed once all of that serves.
//
// # Leader hooks
//
// raft.Node.OnLeader runs each hook in its own goroutine at every
// leadership, with a context that ends with it; the next leadership's
// hooks start after the previous ones returned. In registration order:
// the scheduler (scheduler.Run), the dispatcher (dispatcher.Run), the
// one-time commit of the cluster object after init, the gossip key
// rotation, the role manager (promotions and demotions become Raft voter
// changes), and the orchestrator (orchestrator.Run). The orchestrator,
// scheduler and dispatcher share one lifecycle (internal/lifecycle): a Run
// per leadership, and Stop at shutdown.
//
// # Shutdown order
//
// Run returns when its context ends or when the store says this node was
// demoted (ErrDemoted). Every way out, a failed start included, goes
// through one cleanup, which stops what was started and skips the rest:
// the join goroutine is waited for, the control API stops, then the
// dispatcher, the orchestrator and the scheduler (each Stop waits for its
// Run), the Raft node (a leader hands its leadership over first), the
// cluster port's HTTP server (one second for requests in flight), and the
// listener.
package manager
