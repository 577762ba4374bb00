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
//     the write and a new leader exists: the write may or may not apply;
//   - the operation's own *state.Error (update out of sequence, name
//     conflict, not found), identical on every manager.
//
// Reads: ReadBarrier makes the next local read linearizable. The leader
// confirms its leadership with a quorum (VerifyLeader) and answers with its
// store index, which covers every acknowledged write because a leader
// serves only after applying a no-op of its own term (Ready). A follower
// asks the leader for that index and waits until its own store reaches it,
// so reads scale over all managers and no client reads state older than a
// write it saw acknowledged.
//
// Leader-only work (orchestrators, scheduler, dispatcher) registers with
// OnLeader and runs with a context that ends with the leadership.
//
// Membership changes (AddVoter, RemoveServer) go through the leader and are
// serialised by Raft against concurrent writes. Shutdown hands leadership
// over first, so a planned restart costs no election timeout.
package raft
