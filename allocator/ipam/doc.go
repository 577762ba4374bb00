// Package ipam holds the pools the allocator gives network resources out
// of: SubnetPool (network subnets carved from the cluster's address pools,
// and explicit subnets, never overlapping), AddrSpace (the addresses of
// one subnet, the gateway and the network and broadcast addresses never
// given out), NumberPool (VXLAN IDs, published ports). They are pure
// bookkeeping of what is held, with next-fit allocation so that a
// released value is the last one given out again; they know nothing of
// the store. The store's FSM uses them too, to refuse a network whose
// subnet cannot be had at once. Not safe for concurrent use.
package ipam
