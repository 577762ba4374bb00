// Package allocator gives out the network resources of the cluster: a
// subnet, a gateway and a VXLAN ID per network, a virtual IP per service
// per network (none in dnsrr mode), an address per task per network, a
// load-balancer address per node per network it has tasks on (and on the
// ingress network while a service publishes ingress ports), and the
// published ports of ingress-mode ports that name none (30000-32767).
//
// # Two layers
//
//   - The pools (package ipam): pure bookkeeping of what is held and
//     what is free, with next-fit allocation so that a released address
//     is the last one given out again. They know nothing of the store.
//   - The Allocator, which runs on the Raft leader only, with the
//     scheduler's lifecycle: New(store, proposer, cfg), then Run(ctx) once
//     per leadership term (raft.Node.OnLeader), Stop() to end it.
//
// # How a term works
//
// A term first commits a no-op through the proposer: once it is applied,
// every command an earlier leader (or an earlier term of this one)
// proposed is applied or lost for good. It then rebuilds its pools from a
// snapshot of the store (networks first, then what holds addresses in
// them) and follows the change feed. Changes mark networks, services and
// nodes dirty and queue tasks that wait (state NEW, see below); a pass,
// debounced like the scheduler's, plans what they need and writes it in
// one command: OpAllocateNetwork, OpAllocateService, OpAllocateNode and
// OpAllocateTasks (at most Config.MaxBatch tasks), plus OpTaskPending for
// tasks it cannot serve, with the reason. Each allocation is taken from
// the pools when planned and, once the command is applied, kept if the
// store shows it or given back if the store refused it (an object that
// changed meanwhile); what an allocation releases is released only then.
// A failed write ends the term, and the next one starts from the store.
//
// # Tasks wait in state NEW
//
// The store creates a task that names networks or publishes ingress ports
// in state NEW, "waiting for network allocation" (state.NeedsNetworks);
// OpAllocateTasks gives it its attachments and makes it PENDING, and only
// then does the scheduler place it. A task whose addresses cannot be given
// (a full subnet, an overlapping or missing network) stays NEW with the
// reason as its status message until something comes free. A task's
// addresses are freed once it has stopped (a terminal observed state) or
// is deleted, never while it may still run.
package allocator
