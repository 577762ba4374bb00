// Package dockerexec is the Docker Engine implementation of agent/exec: an
// Executor per node, a Controller per task, each task one container.
//
//	cli, _ := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
//	e, _ := dockerexec.New(cli, nodeID, dockerexec.WithLogger(log))
//	ctlr, err := e.Controller(task) // then drive it with exec.Do
//
// # Containers
//
// A task's container is named <service>.<slot or node ID>.<task ID> and
// labelled with io.shoal.node.id, io.shoal.task.id, io.shoal.task.name,
// io.shoal.task.slot, io.shoal.service.id and io.shoal.service.name, on top
// of the spec's own labels. It gets the spec's env plus SHOAL_TASK_NAME,
// SHOAL_TASK_ID, SHOAL_TASK_SLOT, SHOAL_NODE_ID, SHOAL_SERVICE_NAME and
// SHOAL_SERVICE_ID. Command replaces the image's entrypoint and Args its
// command, as in Docker Swarm. Ports are published in host mode only. It
// has no restart policy: a task that ends is replaced by the orchestrator.
//
// Several executors with different node IDs may share one engine (tests,
// demos): every call checks the node label, and a container of another
// node is never listed, stopped or removed (ErrNotOwned).
//
// # Lifecycle
//
//   - Prepare: the image is used if the engine has it, else pulled; a
//     failed pull rejects the task with the registry's message
//     (ErrImageUnavailable). Then the container is created.
//   - Start: starts it; with a healthcheck (the image's or the spec's),
//     returns only once it is healthy, so the task is RUNNING only when
//     healthy. Unhealthy first: the container is stopped and the task
//     fails with exec.ErrContainerUnhealthy and the last check's output.
//   - Wait: waits for the exit (exec.ExitError for a non-zero code, with
//     "out of memory" when OOM-killed), and fails the task, stopping the
//     container, if it turns unhealthy while running. Health and exit are
//     watched through engine events, not polling.
//   - Shutdown: a running task on overlay networks is first drained: once
//     the node's network view no longer lists it (the manager sends every
//     node that view when it asks the task to stop), it keeps running for
//     the drain delay (WithDrainDelay, 2 s as Docker's), so that every
//     node's load balancer and DNS stop sending it new connections before
//     it refuses them. Then the stop signal, then SIGKILL after
//     StopGracePeriod (rounded up to whole seconds, the engine's unit;
//     Docker's default 10 s when unset). Terminate: SIGKILL. Remove: Shutdown if still
//     running, then a forced removal that keeps volumes.
//
// Errors reaching the engine (connection refused, engine unavailable) are
// temporary (exec.IsTemporary): exec.Do retries them.
//
// The controller implements exec.ContainerStatuser and exec.PortStatuser;
// the executor implements exec.LogSource.
package dockerexec
