package convert

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// Bounds on the counts a spec may carry. Docker has none; shoal has them
// because each count sizes work or memory somewhere (tasks planned and
// started, entries copied into every task of a service, constraints checked
// against every node). The request body limit (api.Config.MaxBodyBytes,
// 1 MiB) already bounds the bytes; these bound what the bytes can ask for.
const (
	// MaxListEntries is the most entries of one list or map of a spec
	// (labels, environment, command, arguments, constraints, preferences,
	// mounts, ports, platforms): far more than any real service uses, few
	// enough that the scheduler's per-node checks stay cheap.
	MaxListEntries = 1000
	// MaxRestartAttempts is the largest RestartPolicy.MaxAttempts: the
	// orchestrator remembers that many task ends per slot (more than 18
	// hours of restarts at the 1 s minimum delay).
	MaxRestartAttempts = 1 << 16
)

// countAtMost refuses a count above max.
func (c *checker) countAtMost(field string, n, max uint64, what string) {
	if n > max {
		c.invalid(field, "%d is more than %d, the most %s", n, max, what)
	}
}

// entriesAtMost refuses a list or map of more than MaxListEntries entries.
func (c *checker) entriesAtMost(field string, n int) {
	if n > MaxListEntries {
		c.invalid(field, "%d entries: at most %d are accepted", n, MaxListEntries)
	}
}

// checkSpecCounts bounds the lists and counts of a service spec.
func checkSpecCounts(c *checker, s *swarm.ServiceSpec) {
	c.entriesAtMost("Labels", len(s.Labels))
	t := &s.TaskTemplate
	if cs := t.ContainerSpec; cs != nil {
		const f = "TaskTemplate.ContainerSpec."
		c.entriesAtMost(f+"Labels", len(cs.Labels))
		c.entriesAtMost(f+"Env", len(cs.Env))
		c.entriesAtMost(f+"Command", len(cs.Command))
		c.entriesAtMost(f+"Args", len(cs.Args))
		c.entriesAtMost(f+"Mounts", len(cs.Mounts))
		c.entriesAtMost(f+"Secrets", len(cs.Secrets))
		c.entriesAtMost(f+"Configs", len(cs.Configs))
		if h := cs.Healthcheck; h != nil {
			c.entriesAtMost(f+"Healthcheck.Test", len(h.Test))
		}
	}
	c.entriesAtMost("TaskTemplate.Networks", len(t.Networks))
	c.entriesAtMost("Networks", len(s.Networks))
	if p := t.Placement; p != nil {
		c.entriesAtMost("TaskTemplate.Placement.Constraints", len(p.Constraints))
		c.entriesAtMost("TaskTemplate.Placement.Preferences", len(p.Preferences))
		c.entriesAtMost("TaskTemplate.Placement.Platforms", len(p.Platforms))
		c.countAtMost("TaskTemplate.Placement.MaxReplicas", p.MaxReplicas, MaxReplicasCeiling, "replicas per node shoal accepts")
	}
	if p := t.RestartPolicy; p != nil && p.MaxAttempts != nil {
		c.countAtMost("TaskTemplate.RestartPolicy.MaxAttempts", *p.MaxAttempts, MaxRestartAttempts, "restart attempts shoal accepts")
	}
	if e := s.EndpointSpec; e != nil {
		c.entriesAtMost("EndpointSpec.Ports", len(e.Ports))
	}
	if u := s.UpdateConfig; u != nil {
		c.countAtMost("UpdateConfig.Parallelism", u.Parallelism, MaxReplicasCeiling, "tasks updated at once shoal accepts")
	}
	if u := s.RollbackConfig; u != nil {
		c.countAtMost("RollbackConfig.Parallelism", u.Parallelism, MaxReplicasCeiling, "tasks rolled back at once shoal accepts")
	}
	if r := s.Mode.Replicated; r != nil && r.Replicas != nil {
		c.countAtMost("Mode.Replicated.Replicas", *r.Replicas, MaxReplicasCeiling, fmt.Sprintf("replicas any cluster allows (its limit, the cluster setting MaxReplicas, is %d unless raised)", model.DefaultMaxReplicas))
	}
}
