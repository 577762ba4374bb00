// Package node holds what every node of the cluster keeps in its data dir
// and shares between the manager and worker binaries: its identity and
// settings (node.json), its TLS credentials with automatic renewal, and the
// list of managers it knows.
//
// Data dir layout:
//
//	node.lock                     flock held by the process running the node; its PID
//	node.json                     identity, settings given at init/join, known managers
//	certificates/swarm-node.crt   node certificate (CN node ID, OU role, O cluster ID)
//	certificates/swarm-node.key   its key, mode 0600
//	certificates/swarm-root-ca.crt the cluster's root certificate
//	raft/                         managers only: Raft log, stable store, snapshots,
//	                              and applied.json, the highest index the node applied
//	swarm.sock                    the Docker Engine API socket (a worker's answers /info and refuses cluster calls)
package node
