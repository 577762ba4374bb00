// Package hostbed runs several hosts on one machine for tests and
// benchmarks: each host is a network namespace with its own dockerd (own
// data root, exec root, pidfile, socket and docker0 bridge), joined to the
// others by a veth pair into one bridge in the root namespace. A host can
// be cut off the network (its veth down: no TCP reset reaches anyone), have
// its dockerd frozen (SIGSTOP), and run commands inside its namespace.
// deploy/hosts.sh builds the same bed from the shell.
//
// # Use
//
//	bed := hostbed.New(t, hostbed.Config{Hosts: 3, Images: []string{img}})
//	h := bed.Hosts[1]
//	cmd := h.Command("worker", "join", ...) // runs inside h's namespace
//	h.Docker                                 // client of h's dockerd
//	h.Partition(); h.Heal()                  // ip link set VETH down / up
//	h.FreezeDocker(); h.ThawDocker()         // SIGSTOP / SIGCONT dockerd
//
// New skips the test, with the reason, when the machine cannot host a bed
// (not root; ip, nsenter, iptables or dockerd missing). It registers Close
// with t.Cleanup; Start and Close are the same without a testing.TB.
//
// # What it needs and what it touches
//
// Root, iproute2, nsenter (util-linux), iptables and a dockerd binary. The
// storage driver is the machine daemon's (fuse-overlayfs here), so the
// per-host daemons work wherever the machine's does. Every name carries a
// random 4-hex-digit bed ID, so that parallel runs do not collide: bridge
// sbID, veths sbIDhN (root side; eth0 inside), namespaces sbIDhN, files
// under /tmp/sb/ID (short, so that containerd's socket path stays under 108
// bytes). The root namespace's FORWARD chain drops bridged traffic
// (Docker's policy), so the bed inserts one ACCEPT rule for its bridge.
//
// # Teardown
//
// Close stops each dockerd (SIGTERM, then SIGKILL), kills every process
// left in the namespaces (containers, shims, shoal nodes), unmounts what is
// mounted under the bed's directory, and removes the namespaces, veths,
// bridge, FORWARD rule and files. It is idempotent, and tolerant of
// anything already gone. A bed whose owning process died without closing
// it (a test binary killed by its timeout) is swept by the next Start:
// /tmp/sb/ID/owner holds the owner's PID.
package hostbed
