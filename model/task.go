package model

import "reflect"

// TaskStatusUpdate is an agent's report of a task's status.
type TaskStatusUpdate struct {
	TaskID string     `json:"task_id"`
	Status TaskStatus `json:"status"`
}

// TaskUpToDate tells whether a task was made from its service's current
// spec: Docker's `_up-to-date` filter and the update orchestrator's test of
// which tasks to replace.
func TaskUpToDate(t *Task, s *Service) bool {
	if t.SpecVersion == s.SpecVersion {
		return true
	}
	return reflect.DeepEqual(&t.Spec, &s.Spec.Task) && reflect.DeepEqual(t.Endpoint, s.Spec.Endpoint)
}
