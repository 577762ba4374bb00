// Package progress shows a service converging after create, update, scale
// or rollback, the way `docker service create` does without -d.
//
// Watch polls the manager every 200 ms: the service (for its mode, replica
// count, update monitor and UpdateStatus), its up-to-date tasks
// (GET /tasks?filters={"service":..,"_up-to-date":..}) and the nodes (tasks
// on DOWN nodes are dropped, since the orchestrator replaces them). A
// replicated service converges when every slot has a running task whose
// desired state is running; a global one when every node that has a task
// runs it. Watch then waits the service's UpdateConfig.Monitor (5 s by
// default) to see the tasks stay up, and prints "verify: Service
// converged". A paused update or rollback ends the watch with an error that
// carries the manager's message.
//
// The display is a block of lines keyed by an ID ("overall progress",
// "1/3", a node's hostname, "verify"). On a terminal the block is redrawn
// in place with a bar per slot; otherwise a line is printed each time an
// ID's text changes, so logs stay readable.
//
// Cancelling the context (Ctrl-C) stops watching, says how to look at the
// service later, and returns nil: the service keeps converging on its own.
package progress
