// Package netdns is a node's DNS server for its tasks' overlay networks.
//
// A Server listens on each network's gateway address on this node (UDP
// and TCP, port 53), where Docker's embedded resolver in a task's
// container forwards the names it does not know (the container is created
// with HostConfig.DNS = [the gateway of its first network]). On the
// listener of network N it answers from N's part of the node's network
// view only:
//
//   - a service name, or one of its network aliases on N: the service's
//     virtual IP on N, or, for a service without one (dnsrr mode), its
//     tasks' addresses on N;
//   - tasks.NAME (NAME a service name or alias): the tasks' addresses;
//   - reverse (PTR) lookups of a task's address (SERVICE.TASKID) and of a
//     virtual IP (SERVICE);
//
// and forwards every other question to the host's resolvers
// (/etc/resolv.conf of the agent's host). A new view replaces the
// answers at once (SetView swaps a table), so names follow tasks as soon
// as the manager's view reaches the node.
//
// Sockets bind with IP_FREEBIND and SO_REUSEPORT: a listener may start
// before Docker has put the gateway address on the network's bridge, and
// several agents sharing one engine (one network namespace) may all
// serve the same network from the same view.
package netdns
