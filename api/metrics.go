package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// requestMetrics measures the API's requests.
type requestMetrics struct {
	duration *prometheus.HistogramVec
}

// newRequestMetrics registers the request histogram and, for a manager's
// backend b (nil on a worker), the state gauges on reg. A second server on
// the same registry shares the histogram.
func newRequestMetrics(reg prometheus.Registerer, b Backend, log *slog.Logger) *requestMetrics {
	m := &requestMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "shoal",
			Subsystem: "api",
			Name:      "request_duration_seconds",
			Help:      "Time to answer Docker Engine API requests, by route pattern, method and status code. Log streams last as long as the client follows them.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
	}
	if reg == nil {
		return m
	}
	if err := reg.Register(m.duration); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if h, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				m.duration = h
			}
		} else {
			log.Warn("registering API metrics", "err", err)
		}
	}
	if b == nil {
		return m // a worker's server: no store to count
	}
	if err := reg.Register(&stateCollector{backend: b}); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			log.Warn("registering state metrics", "err", err)
		}
	}
	return m
}

func (m *requestMetrics) observe(route, method string, code int, d time.Duration) {
	m.duration.WithLabelValues(route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

// metricsHandler serves the backend's gatherer, which holds the API's
// metrics and whatever the manager registered (Raft, dispatcher...).
func (s *Server) metricsHandler() http.Handler {
	g := s.gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// stateCollector counts the objects of the local store when scraped. It
// reads without a read barrier: a scrape must not wait on Raft, and a
// count a few milliseconds old is what a gauge is. A node that is not a
// manager has no current store and reports nothing.
type stateCollector struct {
	backend Backend
}

var (
	tasksDesc = prometheus.NewDesc("shoal_tasks", "Tasks in the swarm state, by observed state.",
		[]string{"state"}, nil)
	nodesDesc = prometheus.NewDesc("shoal_nodes", "Nodes in the swarm state, by status and role.",
		[]string{"status", "role"}, nil)
	servicesDesc = prometheus.NewDesc("shoal_services", "Services in the swarm state, by mode.",
		[]string{"mode"}, nil)
	storeIndexDesc = prometheus.NewDesc("shoal_store_index", "Raft index of the last change applied to this manager's store.",
		nil, nil)
)

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- nodesDesc
	ch <- servicesDesc
	ch <- storeIndexDesc
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.backend.NodeID() == "" || !c.backend.IsManager() {
		return
	}
	tasks := map[model.TaskState]int{}
	type nodeKey struct {
		status model.NodeState
		role   model.NodeRole
	}
	nodes := map[nodeKey]int{}
	services := map[string]int{"replicated": 0, "global": 0}
	store := c.backend.Store()
	_ = store.View(func(tx state.ReadTx) error {
		_ = tx.ForEachTask(state.All, func(t *model.Task) bool {
			tasks[t.Status.State]++
			return true
		})
		ns, _ := tx.FindNodes(state.All)
		for _, n := range ns {
			nodes[nodeKey{n.Status.State, n.Role}]++
		}
		ss, _ := tx.FindServices(state.All)
		for _, s := range ss {
			services[s.Spec.ModeName()]++
		}
		return nil
	})
	for _, st := range []model.TaskState{model.TaskStateNew, model.TaskStatePending, model.TaskStateAssigned,
		model.TaskStateAccepted, model.TaskStatePreparing, model.TaskStateReady, model.TaskStateStarting,
		model.TaskStateRunning, model.TaskStateComplete, model.TaskStateShutdown, model.TaskStateFailed,
		model.TaskStateRejected, model.TaskStateRemove, model.TaskStateOrphaned} {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(tasks[st]), st.String())
	}
	for k, n := range nodes {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(n), string(k.status), string(k.role))
	}
	for mode, n := range services {
		ch <- prometheus.MustNewConstMetric(servicesDesc, prometheus.GaugeValue, float64(n), mode)
	}
	ch <- prometheus.MustNewConstMetric(storeIndexDesc, prometheus.GaugeValue, float64(store.Index()))
}
