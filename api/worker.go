package api

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/prometheus/client_golang/prometheus"
)

// Worker is what the API server of a worker reports: the node as its
// agent sees it, and the Docker engine its tasks run on. The node's daemon
// implements it over its agent and its Docker client. Both methods must
// be safe for concurrent use.
type Worker interface {
	// WorkerStatus returns the node's place in the swarm. It is called on
	// every request, so it must be cheap and never block on the network.
	WorkerStatus() WorkerStatus
	// EngineInfo returns the local engine's GET /info. The server answers
	// it with the Swarm section replaced by the node's (the engine itself
	// is not in swarm mode); when it fails, the server describes the host
	// itself, as a manager does, and says why in Warnings.
	EngineInfo(ctx context.Context) (system.Info, error)
}

// WorkerStatus is a worker's place in the swarm, for the Swarm section of
// /info, as Docker fills it on a worker.
type WorkerStatus struct {
	// NodeID is the node's ID; "" refuses every route as outside a swarm.
	NodeID string
	// Hostname is the node's name in the swarm (`docker node ls`), shown
	// as the engine's Name.
	Hostname string
	// Addr is the address (IP, no port) the node advertises.
	Addr string
	// Ready is set once the node's agent had a session with a manager:
	// LocalNodeState active; before that, pending (Docker's states).
	Ready bool
	// Error says why the agent has no session with a manager now; empty
	// while it has one.
	Error string
	// Managers are the managers the node knows: node ID (empty for an
	// address no session named yet) and cluster address (host:port).
	Managers []swarm.Peer
}

// EngineInfoTimeout bounds the engine call of a worker's /info: a frozen
// daemon must not make `docker info` hang (the answer then describes the
// host and says the engine does not answer).
const EngineInfoTimeout = 5 * time.Second

// NewWorkerServer returns the API server of a worker: /_ping, /version and
// /info answer as on a manager, /info with the worker's engine and swarm
// state, and every route that reads or writes the cluster state answers
// 503 with Docker's message for workers, as a Docker worker's socket
// does. /metrics serves the server's own request metrics. cfg is handled
// as NewServer handles it.
func NewWorkerServer(w Worker, cfg Config) *Server {
	s := newServer(cfg)
	s.worker = w
	reg := prometheus.NewRegistry()
	s.metrics = newRequestMetrics(reg, nil, s.log)
	s.gatherer = reg
	s.routes()
	return s
}

// workerInfo is a worker's /info: its engine's, with the node's name and
// swarm state.
func (s *Server) workerInfo(ctx context.Context) system.Info {
	st := s.worker.WorkerStatus()
	ctx, cancel := context.WithTimeout(ctx, EngineInfoTimeout)
	defer cancel()
	info, err := s.worker.EngineInfo(ctx)
	if err != nil {
		s.log.Warn("worker /info: the engine does not answer", "err", err)
		info = s.hostSystemInfo()
		info.ID = st.NodeID
		info.Warnings = append(info.Warnings, "WARNING: this node's Docker engine does not answer ("+err.Error()+"): the host is described instead")
	}
	if st.Hostname != "" {
		info.Name = st.Hostname
	}
	info.Swarm = workerSwarmInfo(st)
	return info
}

// workerSwarmInfo is the Swarm section of a worker's /info: what Docker
// fills on a worker (no cluster, node or manager counts: those need the
// control API).
func workerSwarmInfo(st WorkerStatus) swarm.Info {
	if st.NodeID == "" {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive, RemoteManagers: []swarm.Peer{}}
	}
	info := swarm.Info{
		NodeID:         st.NodeID,
		NodeAddr:       st.Addr,
		LocalNodeState: swarm.LocalNodeStatePending,
		Error:          st.Error,
		RemoteManagers: slices.Clone(st.Managers),
	}
	if st.Ready {
		info.LocalNodeState = swarm.LocalNodeStateActive
	}
	if info.RemoteManagers == nil {
		info.RemoteManagers = []swarm.Peer{}
	}
	slices.SortFunc(info.RemoteManagers, func(a, b swarm.Peer) int { return strings.Compare(a.Addr, b.Addr) })
	return info
}
