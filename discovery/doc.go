// Package discovery is the gossip layer every shoal node runs, managers and
// workers alike: membership and fast, careful failure detection over
// hashicorp/memberlist (SWIM with the Lifeguard extensions), always
// encrypted.
//
// # Use
//
//	cfg := discovery.DefaultLANConfig()
//	cfg.NodeID, cfg.Role = node.ID, node.Role
//	cfg.ClusterAddr, cfg.APIAddr = ...               // managers
//	cfg.Keys = discovery.KeysOf(cluster.GossipKeys)  // from the cluster object
//	cfg.IsRemoved = removedSet.Contains              // managers
//	cfg.Events = handler
//	g, err := discovery.New(cfg)                      // binds :7946, starts probing
//	n, err := g.Join(managerGossipAddrs)              // ManagerStatus.GossipAddr of the managers
//	...
//	g.SetKeys(discovery.KeysOf(cluster.GossipKeys))  // whenever the keys change
//	g.Members(), g.Member(id), g.Health()            // node ls, /info
//	...
//	g.Leave(5 * time.Second)                          // graceful exit, then
//	g.Shutdown()
//
// New starts the node alone; Join merges it with the cluster (retry Join
// with backoff while it returns an error: no seed was reached). Members and
// Member give this node's view of every member (alive, suspect, failed,
// left); the EventHandler is told of joins, metadata updates, graceful
// leaves and failures of the other members. Every method is safe for
// concurrent use; the EventHandler contract is on its type.
//
// # What memberlist does not give, and how this package adds it
//
//   - Leave or failure: memberlist reports both through NotifyLeave. Leave
//     first sets a leaving flag in the node's metadata, spreads it, and
//     tells every member directly over TCP, so the others report EventLeave,
//     not EventFailed.
//   - Suspect state: memberlist keeps it private. A member is shown suspect
//     when this node's own probe of it failed (memberlist logs that, and the
//     log bridge watches for it) until a later probe succeeds, the member
//     changes, it is declared failed, or the longest suspicion timeout
//     passes (it refuted).
//   - Healed partitions: memberlist never merges two sides that declared
//     each other failed. A reconnect loop tries to rejoin failed members
//     (one attempt per failed member per ReconnectInterval, cluster-wide).
//   - Join gaps: memberlist can leave a member unaware of a node that
//     joined at the same moment, until the next push/pull (30 s or more). A
//     joiner exchanges state once more with its seeds and three random
//     members one probe interval after the join.
//   - Races: memberlist's Members and LocalNode hand out pointers it keeps
//     writing, and Keyring.RemoveKey rewrites a slice the packet path reads.
//     This package keeps its own member table, filled from memberlist's
//     callbacks under memberlist's lock, and changes the keyring only in ways
//     that write nothing a reader holds (see applyKeys).
//
// # Security
//
// Gossip is always encrypted and authenticated (AES-GCM through memberlist's
// keyring; unencrypted and wrongly keyed traffic is dropped): New refuses a
// Config without keys unless InsecureNoEncryption is set, for tests. The keys
// are Cluster.GossipKeys, made by the leader's KeyRotator (a new key every
// 12 h by default, in three steps: add, promote, retire), committed through
// Raft, and delivered by a manager to each node over its mutually
// authenticated session, never through the join token. A node removed with
// `node rm` is refused: IsRemoved is consulted when memberlist receives an
// alive message (AliveDelegate) and when a join merges state
// (MergeDelegate), so it cannot join or rejoin; it is hidden from Members and
// events at once, even while memberlist still probes it. What locks it out of
// the network for good is the next key, which it never receives: the leader
// calls KeyRotator.RotateAfter with the time of the removal.
//
// # Wiring in shoal
//
// Every node (manager and worker) runs one Gossip on port 7946. A manager
// builds its Config from its store: keys from the cluster object, IsRemoved
// from Cluster.RemovedNodes (a set kept current from the store's change
// feed), and publishes AdvertiseAddr as its ManagerStatus.GossipAddr. A
// worker gets the keys and the managers' gossip addresses from its session
// with a manager, and has no IsRemoved (managers refuse removed nodes for
// the cluster). On every change of Cluster.GossipKeys, managers and agents
// call SetKeys with the new list; KeyRotator waits PropagationDelay between
// steps so that each list reaches every node before the next one.
//
// Failure events feed node status on the leader only, and never alone:
// gossip notices a crash in about 3 s (LAN profile) where three missed
// heartbeats take longer, but a node cut off from its gossip peers may still
// reach the leader. On EventFailed for node X, the leader's dispatcher
// checks X's session: if X missed at least one heartbeat period (or its
// session is closed), it marks X DOWN at once (Dispatcher.MarkDown, "node
// failed: gossip and heartbeat"), without waiting for the full heartbeat
// grace; if X's heartbeats are current, it logs the disagreement and leaves
// X READY. EventJoin for a DOWN node changes nothing by itself: the node
// becomes READY when its session resumes. So a short blip never marks a
// node DOWN and never restarts its tasks; a crash is acted on within about a
// heartbeat period of gossip's verdict. Manager reachability in `node ls`
// may show Member(id).State; /info may show Health.
//
// # Profiles
//
// The profiles (local, lan, wan) trade detection time for bandwidth; with
// lan, a crash is detected in about 3 s at 5 members and 6 s at 200, for
// 0.3 KB/s per member. The measured figures of each, and how a starved
// machine changes them, are in BENCHMARKS.md ("Gossip").
//
// Config.Timing computes the expected figures for any size: detection grows
// with log10 of the cluster size (the suspicion timeout does), and in small
// clusters Lifeguard waits until enough other members have probed the node
// themselves, which makes detection vary. A node that is itself cut off
// waits up to SuspicionMax before declaring others failed, and lowers its
// probe rate (Health.Score), so it does not accuse healthy peers.
package discovery
