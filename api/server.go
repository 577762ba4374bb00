package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/docker/docker/api/types/versions"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/state"
)

// Server serves the swarm subset of the Docker Engine API. Make it with
// NewServer (a manager) or NewWorkerServer (a worker) and serve Handler on
// any listener, or call Serve.
type Server struct {
	// Exactly one of backend and worker is set.
	backend Backend
	worker  Worker

	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	metrics  *requestMetrics
	gatherer prometheus.Gatherer
	host     hostInfo
}

// NewServer returns a server for backend. Zero fields of cfg take their
// DefaultConfig values; NewServer panics if cfg is invalid after that (call
// cfg.Validate first to get the error). It registers the server's metrics
// on backend.Metrics().
func NewServer(backend Backend, cfg Config) *Server {
	s := newServer(cfg)
	s.backend = backend
	reg, g := backend.Metrics()
	s.metrics = newRequestMetrics(reg, backend, s.log)
	s.gatherer = g
	s.routes()
	return s
}

// newServer is a server without its backend, routes and metrics yet.
func newServer(cfg Config) *Server {
	def := DefaultConfig()
	if cfg.Version == "" {
		cfg.Version = def.Version
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = def.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Server{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "api"),
		mux:  http.NewServeMux(),
		host: readHostInfo(),
	}
}

// access says who may call a route.
type access int

const (
	// public routes answer on any node: ping, version, info, metrics, and
	// the swarm calls that explain what to do instead.
	public access = iota
	// manager routes read or write the cluster state: they need this node
	// to be a manager.
	manager
)

// handlerFunc is a route handler; a returned error is answered as JSON
// with the status statusOf gives it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() {
	s.handle("GET /_ping", public, s.ping)
	s.handle("GET /version", public, s.version)
	s.handle("GET /info", public, s.info)
	s.mux.Handle("GET /metrics", s.metricsHandler())

	s.handle("GET /swarm", manager, s.inspectSwarm)
	s.handle("POST /swarm/update", manager, s.updateSwarm)
	s.handle("GET /swarm/unlockkey", manager, s.unlockKey)
	s.handle("POST /swarm/init", public, s.initSwarm)
	s.handle("POST /swarm/join", public, s.joinSwarm)
	s.handle("POST /swarm/leave", public, s.leaveSwarm)
	s.handle("POST /swarm/unlock", public, s.unlockSwarm)

	s.handle("GET /services", manager, s.listServices)
	s.handle("POST /services/create", manager, s.createService)
	s.handle("GET /services/{id}", manager, s.inspectService)
	s.handle("POST /services/{id}/update", manager, s.updateService)
	s.handle("DELETE /services/{id}", manager, s.removeService)
	s.stream("GET /services/{id}/logs", s.serviceLogs)

	s.handle("GET /tasks", manager, s.listTasks)
	s.handle("GET /tasks/{id}", manager, s.inspectTask)
	s.stream("GET /tasks/{id}/logs", s.taskLogs)

	s.handle("GET /nodes", manager, s.listNodes)
	s.handle("GET /nodes/{id}", manager, s.inspectNode)
	s.handle("POST /nodes/{id}/update", manager, s.updateNode)
	s.handle("DELETE /nodes/{id}", manager, s.removeNode)

	s.handle("GET /networks", manager, s.listNetworks)
	s.handle("POST /networks/create", manager, s.createNetwork)
	s.handle("GET /networks/{id}", manager, s.inspectNetwork)
	s.handle("DELETE /networks/{id}", manager, s.removeNetwork)

	s.handle("GET /secrets", manager, listObjects(s, secretKind))
	s.handle("POST /secrets/create", manager, createObject(s, secretKind))
	s.handle("GET /secrets/{id}", manager, inspectObject(s, secretKind))
	s.handle("POST /secrets/{id}/update", manager, updateObject(s, secretKind))
	s.handle("DELETE /secrets/{id}", manager, removeObject(s, secretKind))

	s.handle("GET /configs", manager, listObjects(s, configKind))
	s.handle("POST /configs/create", manager, createObject(s, configKind))
	s.handle("GET /configs/{id}", manager, inspectObject(s, configKind))
	s.handle("POST /configs/{id}/update", manager, updateObject(s, configKind))
	s.handle("DELETE /configs/{id}", manager, removeObject(s, configKind))

	s.handle("GET /distribution/{ref...}", manager, s.distribution)
	s.stream("GET "+PathBackup, s.backup)
	s.stream("GET /events", s.streamEvents)

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, notFound("page not found: %s %s", r.Method, r.URL.Path))
	})
}

// handle registers a request-response route: its context ends after
// RequestTimeout and its body is limited to MaxBodyBytes.
func (s *Server) handle(pattern string, who access, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if who == manager {
			if err := s.checkManager(); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// stream registers a manager route that streams its answer for as long as
// the client reads it, so it has no timeout; it ends when the server shuts
// down.
func (s *Server) stream(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkManager(); err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		if stop, ok := r.Context().Value(shutdownKey{}).(<-chan struct{}); ok {
			go func() {
				select {
				case <-stop:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// checkManager refuses cluster calls on a node that cannot serve them,
// with Docker's messages.
func (s *Server) checkManager() error {
	if s.nodeID() == "" {
		return &Error{Status: http.StatusServiceUnavailable, Msg: MsgNotInSwarm}
	}
	if !s.isManager() {
		return &Error{Status: http.StatusServiceUnavailable, Msg: MsgWorker}
	}
	return nil
}

// nodeID is the ID of the node the server speaks for; "" outside a swarm.
func (s *Server) nodeID() string {
	if s.worker != nil {
		return s.worker.WorkerStatus().NodeID
	}
	return s.backend.NodeID()
}

// isManager tells whether the server can serve the cluster routes: never
// a worker's.
func (s *Server) isManager() bool {
	return s.worker == nil && s.backend.IsManager()
}

// versionPrefix matches the /vX.Y prefix clients put before every path.
var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)?$`)

// Handler returns the HTTP handler of the API. Paths are served with and
// without a /vX.Y prefix; a version above APIVersion or below
// MinAPIVersion is refused as Docker refuses it.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	h := rec.Header()
	h.Set("Server", "shoal/"+s.cfg.Version+" ("+runtime.GOOS+")")
	h.Set("Api-Version", APIVersion)
	h.Set("Ostype", runtime.GOOS)

	r2 := r
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		if err := checkVersion(m[1]); err != nil {
			s.writeError(rec, r, err)
			s.metrics.observe("unmatched", r.Method, rec.code(), time.Since(start))
			return
		}
		r2 = stripPrefix(r, len(m[0])-len(m[2]))
	}
	s.mux.ServeHTTP(rec, r2)
	// The pattern names the route without the IDs in the path, which
	// keeps the metric's label set small.
	route := r2.Pattern
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	if route == "/" || route == "" {
		route = "unmatched"
	}
	s.metrics.observe(route, r.Method, rec.code(), time.Since(start))
}

func checkVersion(v string) error {
	if versions.GreaterThan(v, APIVersion) {
		return badRequest("client version %s is too new. Maximum supported API version is %s", v, APIVersion)
	}
	if versions.LessThan(v, MinAPIVersion) {
		return badRequest("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)
	}
	return nil
}

// stripPrefix returns r with the first n bytes of its path removed.
func stripPrefix(r *http.Request, n int) *http.Request {
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Path = r.URL.Path[n:]
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath = ""
	if raw := r.URL.RawPath; raw != "" {
		if m := versionPrefix.FindStringSubmatchIndex(raw); m != nil && m[4] >= 0 {
			u.RawPath = raw[m[4]:]
		}
	}
	r2.URL = &u
	return r2
}

// statusRecorder remembers the status of a response for the metrics. It
// unwraps for http.ResponseController, so streams can flush.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// writeJSON answers v as JSON with a trailing newline, as Docker does.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("api: encoding the answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// writeError answers err as Docker does: {"message": "..."}.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := messageOf(err)
	if status >= http.StatusInternalServerError {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if err := writeJSON(w, status, map[string]string{"message": msg}); err != nil {
		s.log.Debug("writing error answer", "err", err)
	}
}

// decodeJSON decodes the request body into v. It refuses what Docker
// refuses (a body that is not JSON, a Content-Type other than JSON) and
// also unknown fields and trailing data: shoal refuses rather than
// ignores, so a misspelt or too-new field is never silently dropped.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return badRequest("unsupported Content-Type header (%s): must be 'application/json'", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), r.Body))
	if err != nil {
		return jsonError(err)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return badRequest("invalid JSON: unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Err: err,
			Msg: fmt.Sprintf("request body is larger than the limit of %d bytes", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return badRequest("invalid JSON: got EOF while reading request body")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return badRequest("invalid JSON: %s: shoal refuses fields it does not know rather than ignore them", strings.TrimPrefix(err.Error(), "json: "))
	}
	return badRequest("invalid JSON: %v", err)
}

// view reads the store after a read barrier, so that the read is
// linearizable: it sees every write acknowledged before the request.
func (s *Server) view(ctx context.Context, fn func(tx state.ReadTx) error) error {
	if err := s.backend.ReadBarrier(ctx); err != nil {
		return err
	}
	return s.backend.Store().View(fn)
}

// viewForWrite reads the store for a write whose command carries, as the
// FSM's precondition, the version of the object the client read: the FSM
// refuses the command ("update out of sequence") unless the object is
// still at that version when the command applies. Such a write does not
// need a linearizable read, and the read barrier would cost a quorum round
// trip before the write's own.
//
// So fn first reads the local store with no barrier. It returns current
// true when it found the object by its full ID at exactly the client's
// version and built the write from nothing else: every write of the
// object bumps its version, so the precondition guarantees that the object
// the command replaces is the one fn read, on the leader or on a follower
// alike. When fn says otherwise or fails (a reference by name or prefix,
// an object the local store lacks or has at another version, as on a
// follower behind the manager the client read from, an object fn refused),
// fn runs again after a read barrier, as view would, and its outcome
// stands: a 404 or a refusal is never based on a stale read.
func (s *Server) viewForWrite(ctx context.Context, fn func(tx state.ReadTx) (current bool, err error)) error {
	var current bool
	err := s.backend.Store().View(func(tx state.ReadTx) error {
		var err error
		current, err = fn(tx)
		return err
	})
	if err == nil && current {
		return nil
	}
	return s.view(ctx, func(tx state.ReadTx) error {
		_, err := fn(tx)
		return err
	})
}

// propose commits ops in one command and returns the first operation's
// error.
func (s *Server) propose(ctx context.Context, ops ...state.Op) error {
	cmd := &state.Command{Time: s.cfg.Clock().UTC(), Ops: ops}
	res, err := s.backend.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		return err
	}
	return nil
}
