package model

import "testing"

func TestTaskStateNames(t *testing.T) {
	for s, name := range taskStateNames {
		got, err := ParseTaskState(name)
		if err != nil || got != s || s.String() != name {
			t.Errorf("%v: %q %v %v", s, name, got, err)
		}
	}
	if !TaskStateFailed.Terminal() || TaskStateRunning.Terminal() {
		t.Error("terminal states wrong")
	}
	if id := NewID(); len(id) != IDLength {
		t.Errorf("id %q", id)
	}
}
