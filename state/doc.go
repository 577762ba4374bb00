// Package state is the swarm's replicated store: the objects of package
// model kept in tables, the commands that write them, their encoding, and
// snapshots. Every object's Meta.Version.Index is the Raft index of the
// log entry that last wrote it: one global counter, so an update naming an
// older version fails with ErrSequence ("update out of sequence").
//
// The Store is a set of tables of persistent B+trees (ptree.go): each kind
// of object has a primary index by ID (and ID prefix), and secondary
// indexes by name (clusters, services, node hostnames, networks, secrets,
// configs), node role, and a task's service and node. Selecting tasks by slot or desired state scans
// a service's tasks or all tasks. A committed version is immutable; a
// write transaction copies the tree nodes it changes, once each, so a
// write of 100k tasks costs a few microseconds per task. It is written
// only by Apply, with committed log entries, in order:
//
//	Proposer (API, orchestrator, scheduler, dispatcher, CA server)
//	    -> Command{Ops} -> Raft log (state/raft) -> FSM -> Store.Apply
//	    -> Watcher batches (orchestrator, scheduler, dispatcher, API)
//
// A Command holds operations that check their own preconditions when they
// are applied (versions, name uniqueness, task states that only move
// forward, the spec version tasks are made from, the networks, secrets and
// configs a service refers to, published ports), so any manager can build
// a command from its own view and the leader needs no lock around a
// read-modify-write: a stale command fails with a coded error instead of
// overwriting newer state. Errors are *Error values with a Code that
// survives encoding, so errors.Is(err, ErrSequence) works on the manager
// that forwarded the write. Commands are encoded in a binary format
// (codec_command.go; format 2 writes services in binary too,
// codec_service.go); DecodeCommand also reads format 1 (services as JSON)
// and the JSON of older log entries. Snapshots (Snapshot.WriteTo, Store.Restore) are in format 3,
// binary tasks sharing their spec records; formats 2 (no networks,
// secrets or configs) and 1 (JSON lines) still restore.
//
// Reads go through View, on an immutable snapshot that never blocks
// writers. ViewAndWatch returns a snapshot and a Watcher that receives every
// later change exactly once; a watcher that falls too far behind, or whose
// store is replaced by a Raft snapshot, returns ErrResync and its consumer
// rebuilds from a new ViewAndWatch. Objects returned by the store are shared
// and must never be modified in place: Copy them first.
package state
