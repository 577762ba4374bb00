// Package netlb is a node's load balancer: services' virtual IPs and the
// routing mesh, with iptables (the kernel has no IPVS).
//
// From the node's network view it derives a Plan: per network, the
// service VIPs and their backends (the tasks in the view: the manager's
// view holds only tasks that are assigned and not shutting down), and per
// ingress-published port the backends on the ingress network. A plan
// becomes
//
//   - addresses on each network's bridge: the VIPs and this node's
//     load-balancer address (as /32s), and a local forwarding entry for
//     the load-balancer address's MAC (02:42 + the address, as every
//     overlay endpoint's) so that replies coming over VXLAN reach the
//     host;
//   - nat-table chains, written in one `iptables-restore --noflush`
//     transaction: SHOAL-VIP (from PREROUTING and OUTPUT) sends each VIP
//     to a chain per service that DNATs to one backend chosen with
//     `-m statistic --mode random` cascades (every port: no port in the
//     DNAT); SHOAL-INGRESS (from PREROUTING and OUTPUT) does the same for
//     each published port arriving on any of the node's own addresses,
//     localhost included (route_localnet=1); SHOAL-POST (from
//     POSTROUTING) SNATs the balanced connections to the node's
//     load-balancer address on the backend's network, so replies come
//     back through this node's conntrack;
//   - a filter-table chain SHOAL-FORWARD, jumped to from DOCKER-USER (or
//     FORWARD where Docker has no DOCKER-USER), that accepts the balanced
//     connections Docker's FORWARD rules would drop;
//   - the jumps to these chains kept the first rules of the built-in
//     chains: Docker inserts its own at the top when it makes a network
//     (its MASQUERADE would otherwise rewrite the source of connections
//     from its containers to a published port), and each apply moves ours
//     back above them in one transaction;
//   - conntrack entries of backends that left a VIP or port deleted, so
//     established flows do not stick to a gone task.
//
// Chains of services that left the view are flushed and deleted in the
// same transaction. The rules live in the network namespace of the
// process, which must be the one of the node's dockerd.
package netlb
