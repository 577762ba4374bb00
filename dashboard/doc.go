// Package dashboard serves a manager's live, read-only web dashboard:
// nodes as columns with their tasks as cards coloured by state, services
// with their replicas, rolling update progress and why tasks are pending,
// the Raft view (leader, term, commit and applied index and lag per
// manager, how many more managers the cluster can lose), and a feed of
// recent events.
//
// Every manager can serve it (`manager init|join|run --ui-addr IP:PORT`,
// off by default). Plain HTTP is served on a loopback address only; on
// any other the manager gives Config.TLS its own server certificate.
// Only GET and HEAD are answered: nothing in the dashboard changes the
// cluster.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary
// (static/), with no build step. It opens one server-sent event stream,
// GET /api/stream, which sends:
//
//   - snapshot: the nodes, services and visible tasks (those running or
//     meant to run) read from the manager's store (state.Store.View) once
//     a watch of its change feed is in place, outside the store's writer
//     lock; the watch's batches the snapshot already holds are skipped,
//     so that nothing is missed or sent twice; and the recent events;
//   - delta: the objects changed since the last message, coalesced over
//     Config.Coalesce and keyed by ID, and their events;
//   - raft: the Raft view, refreshed every Config.RaftInterval from the
//     Source (the manager asks every other manager for its Raft state).
//
// The page applies deltas to the DOM by ID once per animation frame. The
// browser's EventSource reconnects by itself when the stream breaks (the
// manager restarts, a leader change does not matter: every manager serves
// the same replicated state), and gets a new snapshot. The page marks what
// it shows as stale when the manager knows no leader or has not heard
// from one for Config.StaleAfter (it may be cut off from the quorum), or
// when the stream is down.
//
// A manager serves at most Config.MaxStreams pages at once (503 beyond;
// the page tries again 3 s later).
//
// Lifecycle: New(src, cfg) checks cfg and opens the address; Run(ctx)
// serves until ctx ends or Stop is called; Stop waits for Run to return.
package dashboard
