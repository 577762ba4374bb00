// Package netplane makes shoal's overlay networks real on a node, with a
// plain Docker engine (20.10 or later, not in swarm mode) and the Linux
// kernel's VXLAN, the way Docker's own overlay driver does it underneath.
//
// For each network in the node's view (protocol.NetworkView, sent by the
// dispatcher: the networks the node has tasks on, their peers with their
// underlay addresses, and every task endpoint), a Plane keeps:
//
//   - a Docker bridge network "shoal-<network ID>", labelled with the
//     network's ID, name and VXLAN ID, with the network's subnet and
//     gateway (the same on every host), Internal if the network is, and
//     MTU = underlay MTU - 50 (VXLAN's overhead); its Linux bridge is
//     "shb<first 12 of the ID>";
//   - on the agent that owns the engine's data plane, a VXLAN device
//     "shx<first 12 of the ID>" (the network's VNI, UDP 4789, the host's
//     underlay address as source, no learning, ARP proxy) enslaved to that
//     bridge, with one static neighbour entry (IP -> MAC) and one
//     forwarding entry (MAC -> remote host) per endpoint on another host.
//     Docker 20.10 derives a container's MAC from its IP (02:42 + IP), so
//     the entries are known without asking the remote engine, and no ARP
//     or unknown unicast ever crosses the tunnel.
//
// Containers are attached by the executor (agent/exec/docker): created on
// their first network with their allocated address
// (EndpointsConfig.IPAMConfig), connected to the others before start.
// Attach makes the network ready before the container is created.
//
// # Several agents on one engine
//
// Tests and the loopback cluster run many nodes on one dockerd. The Docker
// networks are shared (made by whichever agent needs one first, idempotent
// by name); the VXLAN devices belong to one agent per engine, the holder of
// an flock on LockDir/<engine ID>.lock, taken again by another agent when
// its holder dies. Endpoints of nodes with the same underlay address as
// this host are local and get no entry. Limit: the owner keeps VXLAN
// devices only for the networks in its own view; a network only the other
// agents of that engine use has no tunnel to other hosts (one agent per
// engine, as on real hosts and internal/hostbed, has none of this).
//
// # Lifecycle
//
//	p, _ := netplane.New(cfg)      // cfg.Docker, cfg.NodeID
//	go p.Run(ctx)                  // reconciles every Interval and on change
//	p.SetView(view)                // on each view from the dispatcher
//	name, err := p.Attach(ctx, id) // before creating a task's container
//
// Run reconciles continuously: Docker may recreate a bridge after a
// restart (the VXLAN device is enslaved again), a device may vanish (it is
// made again), entries go stale (removed). A Docker network of ours that is
// no longer in the view and has no container for RemoveGrace is removed
// with its VXLAN device (only networks that were in this plane's view:
// other agents of the engine have their own). When ctx ends, Run removes those without
// containers at once and releases the lock: what still runs keeps its
// network.
//
// A node killed with SIGKILL leaves its Docker networks on the engine, and
// Docker refuses a bridge network whose subnet overlaps another's ("Pool
// overlaps with other one on this address space"): the next cluster on
// the engine, with new network IDs and the same default subnets, could
// never make its own. So before a Docker network is made, the Docker
// networks of ours (labelled io.shoal.network.id) whose subnet overlaps
// it are removed with their VXLAN device if their network is not in this
// node's view, no container is attached and they are older than
// RemoveGrace; otherwise the error (ErrSubnetHeld, temporary: retried)
// names them and why they stay. A network without our label is never
// removed; Docker's own overlap error then names it.
//
// The ingress network gets no bridge: it serves only the routing mesh.
//
// Not here: service VIPs and the routing mesh (there is no IPVS on the
// kernels we target: an iptables or userspace proxy is future work), and DNS for service
// names. Tasks reach each other by address.
package netplane
