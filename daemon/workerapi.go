package daemon

import (
	"context"
	"fmt"
	"net"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/api"
)

// workerAPI is what a worker's Docker API socket reports (api.Worker): the
// node as its agent sees it, and the engine its tasks run on.
type workerAPI struct {
	d      *Daemon
	engine *client.Client
}

var _ api.Worker = workerAPI{}

func (w workerAPI) WorkerStatus() api.WorkerStatus {
	d := w.d
	d.mu.Lock()
	s := d.st.Settings
	st := api.WorkerStatus{NodeID: d.st.NodeID, Hostname: s.Hostname}
	d.mu.Unlock()
	// Docker reports the advertised address without its port.
	st.Addr = s.AdvertiseAddr
	if host, _, err := net.SplitHostPort(s.AdvertiseAddr); err == nil {
		st.Addr = host
	}
	as := d.agent.Status()
	st.Ready, st.Error = as.Ready, as.Error
	st.Managers = make([]swarm.Peer, 0, len(as.Managers))
	for _, m := range as.Managers {
		st.Managers = append(st.Managers, swarm.Peer{NodeID: m.ID, Addr: m.Addr})
	}
	return st
}

func (w workerAPI) EngineInfo(ctx context.Context) (system.Info, error) {
	return w.engine.Info(ctx)
}

// serveWorkerAPI serves the worker's Docker API socket (api.NewWorkerServer)
// until stop is called; stop returns once the socket is closed and
// removed, so a manager starting on the same path after a promotion finds
// it free. A node without an agent (a manager started with NoAgent, then
// demoted) or with the socket off serves none.
func (d *Daemon) serveWorkerAPI(ctx context.Context) (stop func(), err error) {
	d.mu.Lock()
	path := d.st.Settings.APISocketPath()
	d.mu.Unlock()
	if d.agent == nil || d.engine == nil || path == "" {
		return func() {}, nil
	}
	l, err := api.ListenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("worker API socket: %w", err)
	}
	cfg := api.DefaultConfig()
	cfg.Logger = d.log
	srv := api.NewWorkerServer(workerAPI{d: d, engine: d.engine}, cfg)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, l); err != nil && ctx.Err() == nil {
			d.log.Error("worker API server stopped", "socket", path, "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
