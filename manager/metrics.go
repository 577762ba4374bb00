package manager

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoal-dev/shoal/state/raft"
)

// metrics is the manager's prometheus registry: the API server's request
// and state metrics, Raft's, and the process's.
type metrics struct {
	reg    *prometheus.Registry
	commit prometheus.Histogram
}

func newMetrics(r func() *raft.Node) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	commit := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "swarm_raft_commit_seconds",
		Help:    "Time from proposing a write to its commit and application, as seen by the API.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	reg.MustRegister(commit, &raftCollector{node: r})
	return &metrics{reg: reg, commit: commit}
}

// raftCollector reports the Raft node's state at scrape time.
type raftCollector struct {
	node func() *raft.Node
}

var (
	descRaftLeader = prometheus.NewDesc("swarm_raft_is_leader", "1 if this manager is the Raft leader.", nil, nil)
	descRaftTerm   = prometheus.NewDesc("swarm_raft_term", "Current Raft term.", nil, nil)
	descRaftCommit = prometheus.NewDesc("swarm_raft_commit_index", "Raft commit index.", nil, nil)
	descRaftApply  = prometheus.NewDesc("swarm_raft_applied_index", "Index of the last entry applied to the store.", nil, nil)
	descRaftLast   = prometheus.NewDesc("swarm_raft_last_index", "Index of the last entry in the log.", nil, nil)
	descRaftState  = prometheus.NewDesc("swarm_raft_state", "1 for the Raft state this manager is in.", []string{"state"}, nil)
)

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftLeader, descRaftTerm, descRaftCommit, descRaftApply, descRaftLast, descRaftState} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.node()
	if n == nil {
		return
	}
	st := n.Stats()
	leader := 0.0
	if n.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descRaftLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(descRaftTerm, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(descRaftCommit, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(descRaftApply, prometheus.GaugeValue, float64(st.StoreIndex))
	ch <- prometheus.MustNewConstMetric(descRaftLast, prometheus.GaugeValue, float64(st.LastIndex))
	for _, s := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		v := 0.0
		if st.State == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRaftState, prometheus.GaugeValue, v, s)
	}
}
