// Package model is the swarm's data model: the types every node shares,
// with no storage behind them.
//
// The model is seven kinds of object: the one Cluster (settings, root CA,
// join tokens), Nodes, Services and Tasks, and the Networks, Secrets and
// Configs that services use (network.go), each an Object with a Kind.
// Every object carries a Meta whose Version.Index is the Raft index of the
// log entry that last wrote it. Beside the objects are their specs and
// statuses, NewID for object IDs, TaskUpToDate, and TaskStatusUpdate, an
// agent's report of a task's status that is both the dispatcher protocol's
// wire type and the payload of the store's task status operation.
//
// Managers keep these objects in the replicated store (package state);
// workers (agent, agent/exec, discovery, dispatcher/protocol) use the
// types alone, so they never link the store, its commands or its
// snapshots. The JSON names of the types are part of the Raft log's and
// the snapshots' formats and of the dispatcher protocol: change them only
// with a format version.
package model
