// Package clirecorder is a fake Docker Engine that records what the stock
// docker CLI sends to it.
//
// It answers just enough of the swarm subset of the Engine API (ping, info,
// distribution inspect, services, nodes, swarm, networks, secrets, configs)
// for `docker service create|update|scale`, `docker node update|promote` and
// `docker swarm update|join-token` to complete, and it keeps every request:
// method, path, query, the headers that matter and the body. It exists to
// capture golden inputs for package convert (see ../../record_test.go); it
// is not a server to build on.
//
// Usage:
//
//	rec := clirecorder.New()
//	l, _ := net.Listen("unix", sock)
//	go http.Serve(l, rec)
//	// run docker -H unix://sock ...
//	reqs := rec.Take()
//
// A Recorder is safe for concurrent use.
package clirecorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// APIVersion is the version the fake announces in /_ping. It is what our
// manager will announce, so the CLI downgrades to it exactly as it will in
// production.
const APIVersion = "1.41"

// Fixed identities, so recordings are reproducible.
const (
	SelfNodeID = "selfnode00000000000000001"
	ClusterID  = "cluster000000000000000001"
	// UnresolvableImage is answered 404 by the distribution endpoint, as a
	// server without registry access would.
	UnresolvableImage = "unresolvable"
	// ImageDigest is the digest the distribution endpoint reports.
	ImageDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// Fixed time, so recordings are reproducible.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Request is one recorded request.
type Request struct {
	Method string
	// Path is the URL path with the /vX.Y prefix kept.
	Path  string
	Query url.Values
	// Header holds only the headers that tell something about the client:
	// Content-Type, X-Registry-Auth, User-Agent.
	Header http.Header
	Body   []byte
}

// String renders a request on one line, without its body.
func (r Request) String() string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(r.Path)
	if len(r.Query) > 0 {
		b.WriteByte('?')
		b.WriteString(r.Query.Encode())
	}
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " [%s: %s]", k, strings.Join(r.Header[k], ","))
	}
	return b.String()
}

// Hooks let a test put a real validation and conversion layer behind the
// fake: each one receives what the CLI sent and returns what to store (and
// later answer on GET), or an error answered 400 {"message": err}. A nil
// hook stores the request as sent.
type Hooks struct {
	ServiceSpec func(swarm.ServiceSpec) (swarm.ServiceSpec, error)
	NodeSpec    func(swarm.NodeSpec) (swarm.NodeSpec, error)
	// SwarmSpec also gets the spec currently stored, to merge into.
	SwarmSpec func(sent, current swarm.Spec) (swarm.Spec, error)
	// InsertServiceDefaults fills defaults into a copy of a stored spec
	// for GET /services/{id}?insertDefaults=true.
	InsertServiceDefaults func(*swarm.ServiceSpec)
}

// Recorder is the fake engine. Its zero value is not usable; call New.
type Recorder struct {
	// Hooks may be set before the first request.
	Hooks Hooks

	mu       sync.Mutex
	requests []Request
	index    uint64
	services map[string]*swarm.Service
	nodes    map[string]*swarm.Node
	tasks    []swarm.Task
	cluster  swarm.Swarm
	self     string
}

// New returns a Recorder holding one manager node and a default cluster.
func New() *Recorder {
	r := &Recorder{
		index:    10,
		services: map[string]*swarm.Service{},
		nodes:    map[string]*swarm.Node{},
		self:     SelfNodeID,
	}
	r.nodes[SelfNodeID] = &swarm.Node{
		ID:   SelfNodeID,
		Meta: swarm.Meta{Version: swarm.Version{Index: 9}, CreatedAt: epoch, UpdatedAt: epoch},
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{}},
			Role:         swarm.NodeRoleManager,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname:  "node-1",
			Platform:  swarm.Platform{Architecture: "x86_64", OS: "linux"},
			Resources: swarm.Resources{NanoCPUs: 2e9, MemoryBytes: 4 << 30},
			Engine:    swarm.EngineDescription{EngineVersion: "28.5.2"},
		},
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.1"},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:2377"},
	}
	r.nodes["worker0000000000000000001"] = &swarm.Node{
		ID:   "worker0000000000000000001",
		Meta: swarm.Meta{Version: swarm.Version{Index: 9}, CreatedAt: epoch, UpdatedAt: epoch},
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{}},
			Role:         swarm.NodeRoleWorker,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname: "node-2",
			Platform: swarm.Platform{Architecture: "x86_64", OS: "linux"},
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.2"},
	}
	limit := int64(5)
	keep := uint64(0)
	r.cluster = swarm.Swarm{
		ClusterInfo: swarm.ClusterInfo{
			ID:   ClusterID,
			Meta: swarm.Meta{Version: swarm.Version{Index: 8}, CreatedAt: epoch, UpdatedAt: epoch},
			Spec: swarm.Spec{
				Annotations:   swarm.Annotations{Name: "default", Labels: map[string]string{}},
				Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &limit},
				Raft: swarm.RaftConfig{
					SnapshotInterval:           10000,
					KeepOldSnapshots:           &keep,
					LogEntriesForSlowFollowers: 500,
					ElectionTick:               10,
					HeartbeatTick:              1,
				},
				Dispatcher: swarm.DispatcherConfig{HeartbeatPeriod: 5 * time.Second},
				CAConfig:   swarm.CAConfig{NodeCertExpiry: 90 * 24 * time.Hour},
			},
			DefaultAddrPool: []string{"10.0.0.0/8"},
			SubnetSize:      24,
			DataPathPort:    4789,
		},
		JoinTokens: swarm.JoinTokens{
			Worker:  "SWMTKN-1-worker-original",
			Manager: "SWMTKN-1-manager-original",
		},
	}
	return r
}

// SetSwarm replaces the cluster object answered on GET /swarm.
func (r *Recorder) SetSwarm(s swarm.Swarm) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cluster = s
}

// SetNodes replaces the nodes. The first one is the node the engine runs
// on (GET /info names it).
func (r *Recorder) SetNodes(nodes ...swarm.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes = map[string]*swarm.Node{}
	for i := range nodes {
		n := nodes[i]
		r.nodes[n.ID] = &n
	}
	if len(nodes) > 0 {
		r.self = nodes[0].ID
	}
}

// SetTasks replaces the tasks answered on GET /tasks, whatever the filter.
func (r *Recorder) SetTasks(tasks ...swarm.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = tasks
}

// Service returns the stored service with the given name, or nil.
func (r *Recorder) Service(name string) *swarm.Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.services {
		if s.Spec.Name == name {
			c := *s
			return &c
		}
	}
	return nil
}

// Node returns the stored node with the given ID or hostname, or nil.
func (r *Recorder) Node(ref string) *swarm.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.findNode(ref); n != nil {
		c := *n
		return &c
	}
	return nil
}

// Swarm returns the stored cluster object.
func (r *Recorder) Swarm() swarm.Swarm {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cluster
}

// Take returns the requests recorded since the last call and forgets them.
func (r *Recorder) Take() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.requests
	r.requests = nil
	return reqs
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

// ServeHTTP records the request, then answers it.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := Request{
		Method: req.Method,
		Path:   req.URL.Path,
		Query:  req.URL.Query(),
		Header: http.Header{},
		Body:   body,
	}
	for _, h := range []string{"Content-Type", "X-Registry-Auth", "User-Agent"} {
		if v := req.Header.Values(h); len(v) > 0 {
			rec.Header[h] = v
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, rec)

	path := versionPrefix.ReplaceAllString(req.URL.Path, "")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	r.route(w, req.Method, parts, req.URL.Query(), body)
}

func (r *Recorder) route(w http.ResponseWriter, method string, p []string, q url.Values, body []byte) {
	switch {
	case p[0] == "_ping":
		w.Header().Set("Api-Version", APIVersion)
		w.Header().Set("Ostype", "linux")
		w.Header().Set("Docker-Experimental", "false")
		w.Header().Set("Swarm", "active/manager")
		w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		io.WriteString(w, "OK")
	case p[0] == "info":
		r.info(w)
	case p[0] == "version":
		writeJSON(w, http.StatusOK, map[string]string{"Version": "28.5.2", "ApiVersion": APIVersion, "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"})
	case p[0] == "distribution" && len(p) >= 3:
		r.distribution(w, strings.Join(p[1:len(p)-1], "/"))
	case p[0] == "swarm" && len(p) == 1 && method == http.MethodGet:
		writeJSON(w, http.StatusOK, r.cluster)
	case p[0] == "swarm" && len(p) == 2 && p[1] == "update":
		r.swarmUpdate(w, q, body)
	case p[0] == "services" && len(p) == 1:
		r.serviceList(w)
	case p[0] == "services" && len(p) == 2 && p[1] == "create":
		r.serviceCreate(w, body)
	case p[0] == "services" && len(p) == 2 && method == http.MethodGet:
		if s := r.findService(p[1]); s != nil {
			if h := r.Hooks.InsertServiceDefaults; h != nil && q.Get("insertDefaults") == "true" {
				// A deep copy: the spec holds pointers.
				var c swarm.Service
				b, _ := json.Marshal(s)
				if err := json.Unmarshal(b, &c); err != nil {
					writeError(w, http.StatusInternalServerError, "%v", err)
					return
				}
				h(&c.Spec)
				s = &c
			}
			writeJSON(w, http.StatusOK, s)
			return
		}
		notFound(w, "service %s not found", p[1])
	case p[0] == "services" && len(p) == 3 && p[2] == "update":
		r.serviceUpdate(w, p[1], q, body)
	case p[0] == "nodes" && len(p) == 1:
		var list []swarm.Node
		for _, n := range r.nodes {
			list = append(list, *n)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		writeJSON(w, http.StatusOK, list)
	case p[0] == "nodes" && len(p) == 2 && method == http.MethodGet:
		if n := r.findNode(p[1]); n != nil {
			writeJSON(w, http.StatusOK, n)
			return
		}
		notFound(w, "node %s not found", p[1])
	case p[0] == "nodes" && len(p) == 3 && p[2] == "update":
		r.nodeUpdate(w, p[1], body)
	case p[0] == "tasks":
		writeJSON(w, http.StatusOK, append([]swarm.Task{}, r.tasks...))
	case p[0] == "networks" && len(p) == 2:
		writeJSON(w, http.StatusOK, network.Inspect{
			Name: p[1], ID: "net" + pad(p[1], 22), Scope: "swarm", Driver: "overlay",
		})
	case p[0] == "secrets" && len(p) == 1:
		var list []swarm.Secret
		for _, name := range filterNames(q) {
			list = append(list, swarm.Secret{ID: "sec" + pad(name, 22), Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}}})
		}
		writeJSON(w, http.StatusOK, list)
	case p[0] == "configs" && len(p) == 1:
		var list []swarm.Config
		for _, name := range filterNames(q) {
			list = append(list, swarm.Config{ID: "cfg" + pad(name, 22), Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}}})
		}
		writeJSON(w, http.StatusOK, list)
	default:
		notFound(w, "page not found: %s %s", method, strings.Join(p, "/"))
	}
}

func (r *Recorder) info(w http.ResponseWriter) {
	cluster := r.cluster.ClusterInfo
	writeJSON(w, http.StatusOK, system.Info{
		ID:              r.self,
		Name:            "node-1",
		OSType:          "linux",
		Architecture:    "x86_64",
		ServerVersion:   "28.5.2",
		OperatingSystem: "shoal",
		Swarm: swarm.Info{
			NodeID:           r.self,
			NodeAddr:         "10.0.0.1",
			LocalNodeState:   swarm.LocalNodeStateActive,
			ControlAvailable: true,
			RemoteManagers:   []swarm.Peer{{NodeID: r.self, Addr: "10.0.0.1:2377"}},
			Nodes:            len(r.nodes),
			Managers:         1,
			Cluster:          &cluster,
		},
	})
}

func (r *Recorder) distribution(w http.ResponseWriter, image string) {
	if strings.Contains(image, UnresolvableImage) {
		notFound(w, "no such image: %s", image)
		return
	}
	writeJSON(w, http.StatusOK, registry.DistributionInspect{
		Descriptor: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageIndex,
			Digest:    ImageDigest,
			Size:      1234,
		},
		Platforms: []ocispec.Platform{
			{Architecture: "amd64", OS: "linux"},
			{Architecture: "arm64", OS: "linux", Variant: "v8"},
		},
	})
}

func (r *Recorder) swarmUpdate(w http.ResponseWriter, q url.Values, body []byte) {
	var spec swarm.Spec
	if err := json.Unmarshal(body, &spec); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if h := r.Hooks.SwarmSpec; h != nil {
		var err error
		if spec, err = h(spec, r.cluster.Spec); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	r.index++
	r.cluster.Spec = spec
	r.cluster.Version.Index = r.index
	if q.Get("rotateWorkerToken") == "true" {
		r.cluster.JoinTokens.Worker = "SWMTKN-1-worker-rotated"
	}
	if q.Get("rotateManagerToken") == "true" {
		r.cluster.JoinTokens.Manager = "SWMTKN-1-manager-rotated"
	}
	w.WriteHeader(http.StatusOK)
}

func (r *Recorder) serviceList(w http.ResponseWriter) {
	list := []swarm.Service{}
	for _, s := range r.services {
		list = append(list, *s)
	}
	writeJSON(w, http.StatusOK, list)
}

func (r *Recorder) serviceCreate(w http.ResponseWriter, body []byte) {
	spec, err := r.serviceSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	r.index++
	id := "svc" + pad(spec.Name, 22)
	r.services[id] = &swarm.Service{
		ID:   id,
		Meta: swarm.Meta{Version: swarm.Version{Index: r.index}, CreatedAt: epoch, UpdatedAt: epoch},
		Spec: spec,
	}
	writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: id})
}

func (r *Recorder) serviceUpdate(w http.ResponseWriter, ref string, q url.Values, body []byte) {
	s := r.findService(ref)
	if s == nil {
		notFound(w, "service %s not found", ref)
		return
	}
	if v := q.Get("version"); v != fmt.Sprint(s.Version.Index) {
		writeError(w, http.StatusInternalServerError, "update out of sequence")
		return
	}
	spec, err := r.serviceSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	r.index++
	prev := s.Spec
	if q.Get("rollback") == "previous" && s.PreviousSpec != nil {
		spec = *s.PreviousSpec
	}
	s.PreviousSpec = &prev
	s.Spec = spec
	s.Version.Index = r.index
	writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{})
}

func (r *Recorder) serviceSpec(body []byte) (swarm.ServiceSpec, error) {
	var spec swarm.ServiceSpec
	if err := json.Unmarshal(body, &spec); err != nil {
		return spec, err
	}
	if h := r.Hooks.ServiceSpec; h != nil {
		return h(spec)
	}
	return spec, nil
}

func (r *Recorder) nodeUpdate(w http.ResponseWriter, ref string, body []byte) {
	n := r.findNode(ref)
	if n == nil {
		notFound(w, "node %s not found", ref)
		return
	}
	var spec swarm.NodeSpec
	if err := json.Unmarshal(body, &spec); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if h := r.Hooks.NodeSpec; h != nil {
		var err error
		if spec, err = h(spec); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	r.index++
	n.Spec = spec
	n.Version.Index = r.index
	w.WriteHeader(http.StatusOK)
}

// findService resolves a reference as Docker does: ID, then name, then
// unique ID prefix.
func (r *Recorder) findService(ref string) *swarm.Service {
	if s, ok := r.services[ref]; ok {
		return s
	}
	for _, s := range r.services {
		if s.Spec.Name == ref {
			return s
		}
	}
	var found *swarm.Service
	for id, s := range r.services {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func (r *Recorder) findNode(ref string) *swarm.Node {
	if n, ok := r.nodes[ref]; ok {
		return n
	}
	for _, n := range r.nodes {
		if n.Description.Hostname == ref {
			return n
		}
	}
	return nil
}

// filterNames returns the values of the "name" filter of a list request.
func filterNames(q url.Values) []string {
	args, err := filters.FromJSON(q.Get("filters"))
	if err != nil {
		return nil
	}
	names := args.Get("name")
	sort.Strings(names)
	return names
}

// pad turns a name into a fixed-length, ID-looking suffix.
func pad(name string, n int) string {
	s := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			return c
		}
		return '0'
	}, strings.ToLower(name))
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat("0", n-len(s))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"message": fmt.Sprintf(format, args...)})
}

func notFound(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusNotFound, format, args...)
}
