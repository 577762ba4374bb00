// Package raft replicates the swarm state across managers with
// hashicorp/raft, a raft-boltdb log and stable store, and file snapshots.
//
// A Node owns one manager's Raft member. Its FSM applies committed log
// entries, each an encoded state.Command, to a state.Store in batches; its
// snapshots are the store's snapshots, so a lagging or new manager catches
// up from one.
//
// Writes: Propose may be called on any manager. The leader commits the
// command itself; a follower forwards it to the leader through a Forwarder
// (HTTPForwarder over the cluster port's mutual TLS in production, an
// in-memory one in tests, see rafttest). A write is acknowledged only once
// a quorum has it and the leader has applied it. Failures are explicit:
//
//   - QuorumError ("no quorum: 1 of 3 managers reachable") when no leader
//     can be reached within Config.LeaderWaitTimeout;
//   - ErrUnknownOutcome when the leader lost its leadership after it took
//     the write and a new leader exists: the write may or may not apply.
//     A follower's forwarded call follows leadership: it ends as soon as
//     the follower learns of a newer leader, or drops its leader after a
//     heartbeat timeout without hearing from it, so a leader frozen with
//     open connections (SIGSTOP, a VM pause) stalls no caller past the
//     election. A command whose every operation a second application
//     refuses even after other clients' writes (versioned updates and
//     deletes: state.Command.SafeToRetry; not creates, whose object
//     another client may delete before the retry) is then sent again
//     through the new leader, and succeeds if the first attempt never
//     applied; read barriers are simply asked again;
//   - the operation's own *state.Error (update out of sequence, name
//     conflict, not found), identical on every manager.
//
// Reads: ReadBarrier makes the next local read linearizable. The leader
// takes its commit index, confirms its leadership with a quorum
// (VerifyLeader), and every reader, the leader included, waits until its
// own store has applied that index. The commit index covers every
// acknowledged write and every write another read may already have seen
// through a faster follower; a leader serves reads only after a no-op of
// its own term is applied (Ready), so the index always names an entry the
// store applies. Reads scale over all managers and no client reads state
// older than a write it saw acknowledged, or than an earlier read saw.
//
// Leader-only work (orchestrators, scheduler, dispatcher) registers with
// OnLeader and runs with a context that ends with the leadership.
//
// Membership changes (AddVoter, RemoveServer) go through the leader and are
// serialised by Raft against concurrent writes. Shutdown hands leadership
// over first, so a planned restart costs no election timeout.
//
// On disk (Config.DataDir): raft.db (bbolt: log and stable store),
// snapshots/, and applied.json, the highest index the node applied,
// rewritten at most once a second. New checks them before Raft starts
// (verify.go) and fails with a DamagedError (errors.Is ErrDamaged) rather
// than panic or start with less than the node had: a truncated or
// unreadable raft.db, a snapshot that fails its checksum, a gap between
// snapshot and log, an entry that does not read back, or a log and
// snapshot that end before applied.json. A leader that cannot write an
// entry to its disk steps down and the write is retried through the next
// leader (it was neither appended nor replicated).
package raft
