package api

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// ping answers HEAD and GET /_ping. The CLI reads the headers: the API
// version it then uses, the OS, and whether this node manages a swarm
// (which only changes the help it shows).
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Docker-Experimental", "false")
	h.Set("Swarm", s.swarmHeader())
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := io.WriteString(w, "OK")
	return err
}

func (s *Server) swarmHeader() string {
	switch {
	case s.nodeID() == "":
		return "inactive"
	case s.isManager():
		return "active/manager"
	}
	return "active/worker"
}

// version answers GET /version.
func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	v := types.Version{
		Platform: struct{ Name string }{Name: "shoal " + s.cfg.Version},
		Components: []types.ComponentVersion{{
			Name:    "Engine",
			Version: s.cfg.Version,
			Details: map[string]string{
				"ApiVersion":    APIVersion,
				"MinAPIVersion": MinAPIVersion,
				"GoVersion":     runtime.Version(),
				"Os":            runtime.GOOS,
				"Arch":          runtime.GOARCH,
				"KernelVersion": s.host.kernel,
			},
		}},
		Version:       s.cfg.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: s.host.kernel,
	}
	return writeJSON(w, http.StatusOK, v)
}

// info answers GET /info. It never fails for a swarm reason: like
// Docker's, it reports the problem in Swarm.Error, so that `docker info`
// still works on a manager that lost its quorum. A worker's server
// answers with its engine's info (workerInfo).
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	if s.worker != nil {
		return writeJSON(w, http.StatusOK, s.workerInfo(r.Context()))
	}
	info := s.hostSystemInfo()
	info.ID = s.backend.NodeID()
	info.Swarm = s.swarmInfo(r.Context())
	return writeJSON(w, http.StatusOK, info)
}

// hostSystemInfo is /info without its swarm section: what the server
// knows of the machine it runs on.
func (s *Server) hostSystemInfo() system.Info {
	return system.Info{
		Name:               s.host.hostname,
		OSType:             runtime.GOOS,
		OperatingSystem:    s.host.os,
		KernelVersion:      s.host.kernel,
		Architecture:       s.host.arch,
		NCPU:               runtime.NumCPU(),
		MemTotal:           s.host.memTotal,
		ServerVersion:      s.cfg.Version,
		IndexServerAddress: "https://index.docker.io/v1/",
		SystemTime:         s.cfg.Clock().Format(time.RFC3339Nano),
		NGoroutines:        runtime.NumGoroutine(),
		DefaultRuntime:     "runc",
		Labels:             []string{},
	}
}

// swarmInfo is the Swarm section of /info.
func (s *Server) swarmInfo(ctx context.Context) swarm.Info {
	id := s.backend.NodeID()
	if id == "" {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive, RemoteManagers: []swarm.Peer{}}
	}
	info := swarm.Info{NodeID: id, LocalNodeState: swarm.LocalNodeStateActive, RemoteManagers: []swarm.Peer{}}
	var err error
	if s.backend.IsManager() {
		info.ControlAvailable = true
		err = s.backend.ReadBarrier(ctx)
	}
	// A worker, or a manager without quorum, shows what its store knows.
	_ = s.backend.Store().View(func(tx state.ReadTx) error {
		nodes, _ := tx.FindNodes(state.All)
		for _, n := range nodes {
			info.Nodes++
			if n.ID == id {
				info.NodeAddr = n.Status.Addr
				if n.ManagerStatus != nil && info.NodeAddr == "" {
					info.NodeAddr, _, _ = strings.Cut(n.ManagerStatus.Addr, ":")
				}
			}
			if n.Role == model.RoleManager {
				info.Managers++
				peer := swarm.Peer{NodeID: n.ID}
				if n.ManagerStatus != nil {
					peer.Addr = n.ManagerStatus.Addr
				}
				info.RemoteManagers = append(info.RemoteManagers, peer)
			}
		}
		if c := tx.Cluster(); c != nil && info.ControlAvailable {
			ci := convert.ClusterToDocker(c).ClusterInfo
			info.Cluster = &ci
		}
		return nil
	})
	sort.Slice(info.RemoteManagers, func(i, j int) bool { return info.RemoteManagers[i].NodeID < info.RemoteManagers[j].NodeID })
	if err != nil {
		info.LocalNodeState = swarm.LocalNodeStateError
		info.Error = messageOf(err)
	}
	return info
}

// hostInfo describes the machine the manager runs on, for /info.
type hostInfo struct {
	hostname string
	os       string
	kernel   string
	arch     string
	memTotal int64
}

// readHostInfo reads what Docker reports about its host, best effort: a
// field it cannot read stays empty.
func readHostInfo() hostInfo {
	h := hostInfo{os: runtime.GOOS, arch: runtime.GOARCH}
	h.hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/etc/os-release"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				h.os = strings.Trim(v, `"`)
			}
		}
		_ = f.Close()
	}
	// Docker reports the kernel's names for architectures.
	switch runtime.GOARCH {
	case "amd64":
		h.arch = "x86_64"
	case "arm64":
		h.arch = "aarch64"
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int64
				for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) {
					if c >= '0' && c <= '9' {
						kb = kb*10 + int64(c-'0')
					}
				}
				h.memTotal = kb << 10
			}
		}
		_ = f.Close()
	}
	return h
}
