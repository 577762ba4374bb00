package state

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPanickingOperationIsSkipped is the FSM half of issue 21's finding 1:
// an operation that panics while it applies (here an update that empties
// a service's name, which violates the schema: a poison entry written
// around the API's checks) used to panic every manager that applied or
// replayed it. Now that operation alone fails, with ErrInvalid, the others
// of its batch apply, nothing of it is left in the store, the hook hears
// of it, and the store goes on.
func TestPanickingOperationIsSkipped(t *testing.T) {
	a := newApplier(t)
	var told []error
	a.s.OnApplyPanic(func(err error, stack []byte) {
		told = append(told, err)
		if len(stack) == 0 {
			t.Error("no stack")
		}
	})
	a.mustApply(Op{Type: OpCreateService, Service: testService("s1", "web", 3)})
	watch := a.s.Watch()
	defer watch.Close()

	poison := testService("s1", "", 9)
	// Two entries in one batch, as the FSM applies them: the poison
	// operation sits between good ones.
	a.index += 2
	at := time.Unix(1700000000, 0).UTC()
	res := a.s.Apply(
		Entry{Index: a.index - 1, Cmd: &Command{Time: at, Ops: []Op{
			{Type: OpCreateService, Service: testService("s2", "db", 1)},
			{Type: OpUpdateService, Service: poison, Version: 1},
			{Type: OpCreateService, Service: testService("s3", "cache", 1)},
		}}},
		Entry{Index: a.index, Cmd: &Command{Time: at, Ops: []Op{
			{Type: OpUpdateService, Service: testService("s1", "web", 5), Version: 1},
		}}},
	)
	if err := res[0][1].Err; !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("the poison operation's result: %v", err)
	}
	for _, r := range []OpResult{res[0][0], res[0][2], res[1][0]} {
		if r.Err != nil {
			t.Fatalf("a good operation failed: %v", r.Err)
		}
	}
	if len(told) != 1 {
		t.Fatalf("hook told %d times", len(told))
	}
	if s := a.service("s1"); s.Spec.Name != "web" || s.Spec.Replicas() != 5 {
		t.Fatalf("s1 is %q with %d replicas", s.Spec.Name, s.Spec.Replicas())
	}
	for _, id := range []string{"s2", "s3"} {
		if a.service(id) == nil {
			t.Fatalf("%s missing", id)
		}
	}
	if a.s.Index() != a.index {
		t.Fatalf("index %d, want %d", a.s.Index(), a.index)
	}
	// The change feed has the good operations' events only, once.
	batches, err := watch.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || len(batches[0].Events) != 3 {
		t.Fatalf("%d batches, want one of 3 events (two creates, one update): %+v", len(batches), batches)
	}
	a.mustApply(Op{Type: OpDeleteService, ID: "s1"})
}
