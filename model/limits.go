package model

import "fmt"

// LimitError is a count in a stored spec above the cluster's limit for it.
// The API refuses such specs (400); the orchestrator checks again before it
// acts on one (a spec committed by an older version, or written around the
// API), so a number too large is reported, never allocated.
type LimitError struct {
	// Field names the setting in the stored spec, e.g. "replicas".
	Field string
	Value uint64
	Limit uint64
	// Setting tells how the limit is changed.
	Setting string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s %d is more than the cluster's limit of %d (%s)", e.Field, e.Value, e.Limit, e.Setting)
}

// MaxReplicasSetting tells users how the replica limit is raised.
const MaxReplicasSetting = "cluster setting MaxReplicas: swarmctl cluster update --max-replicas N, or the cluster label io.shoal.max-replicas"

// CheckLimits checks the spec's counts against the cluster's limits, o
// being the cluster's orchestration settings (nil for the defaults). It
// returns a *LimitError or nil.
func (s *ServiceSpec) CheckLimits(o *OrchestrationConfig) error {
	limit := uint64(DefaultMaxReplicas)
	if o != nil {
		limit = o.ReplicaLimit()
	}
	if n := s.Replicas(); n > limit {
		return &LimitError{Field: "replicas", Value: n, Limit: limit, Setting: MaxReplicasSetting}
	}
	// A job's completions are its replicas over time; its slots are as
	// many.
	if j := s.Mode.ReplicatedJob; j != nil {
		if j.TotalCompletions > limit {
			return &LimitError{Field: "total completions", Value: j.TotalCompletions, Limit: limit, Setting: MaxReplicasSetting}
		}
		if j.MaxConcurrent > limit {
			return &LimitError{Field: "max concurrent", Value: j.MaxConcurrent, Limit: limit, Setting: MaxReplicasSetting}
		}
	}
	return nil
}
