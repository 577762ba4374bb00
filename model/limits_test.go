package model

import (
	"errors"
	"testing"
)

func TestCheckLimitsCountsJobs(t *testing.T) {
	o := &OrchestrationConfig{MaxReplicas: 100}
	tests := []struct {
		name  string
		mode  ServiceMode
		field string
	}{
		{"replicas within", ServiceMode{Replicated: &ReplicatedService{Replicas: 100}}, ""},
		{"replicas over", ServiceMode{Replicated: &ReplicatedService{Replicas: 101}}, "replicas"},
		{"job within", ServiceMode{ReplicatedJob: &ReplicatedJob{MaxConcurrent: 10, TotalCompletions: 100}}, ""},
		{"completions over", ServiceMode{ReplicatedJob: &ReplicatedJob{MaxConcurrent: 1, TotalCompletions: 1 << 63}}, "total completions"},
		{"concurrency over", ServiceMode{ReplicatedJob: &ReplicatedJob{MaxConcurrent: 101, TotalCompletions: 1}}, "max concurrent"},
		{"global job", ServiceMode{GlobalJob: &GlobalJob{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ServiceSpec{Mode: tt.mode}
			err := spec.CheckLimits(o)
			var le *LimitError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &le) || le.Field != tt.field):
				t.Fatalf("got %v, want a limit error on %s", err, tt.field)
			}
		})
	}
}
