package robustness

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-dev/shoal/model"
)

// Hand-made histories checked against the registry model: the model must
// accept what a correct registry can answer and refuse the anomalies the
// suite exists to catch.

func rec(client int, call, ret float64, in svcInput, out svcOutput) record {
	return record{Client: client, In: in, Out: out,
		Call: time.Duration(call * float64(time.Second)), Return: time.Duration(ret * float64(time.Second))}
}

func read(name string) svcInput { return svcInput{Kind: opRead, Name: name} }

func create(name string, r uint64, l string) svcInput {
	return svcInput{Kind: opCreate, Name: name, Replicas: r, Label: l}
}

func update(name, id string, v, r uint64, l string) svcInput {
	return svcInput{Kind: opUpdate, Name: name, ID: id, Version: v, Replicas: r, Label: l}
}

func seen(id string, v, r uint64, l string) svcOutput {
	return svcOutput{Outcome: outOK, ID: id, Version: v, Replicas: r, Label: l}
}

var (
	ok        = svcOutput{Outcome: outOK}
	unknown   = svcOutput{Outcome: outUnknown}
	notFound  = svcOutput{Outcome: outFailed, Code: codeNotFound}
	sequence  = svcOutput{Outcome: outFailed, Code: codeSequence}
	conflict  = svcOutput{Outcome: outFailed, Code: codeNameConflict}
	noQuorum  = svcOutput{Outcome: outFailed, Code: codeNoQuorum}
	createdAs = func(id string) svcOutput { return svcOutput{Outcome: outOK, ID: id} }
)

func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		hist []record
		want bool
	}{
		{"create then read", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
		}, true},
		{"acknowledged create lost", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), notFound),
		}, false},
		{"read concurrent with create may miss it", []record{
			rec(0, 0, 2, create("a", 1, "x"), createdAs("A")),
			rec(1, 1, 3, read("a"), notFound),
		}, true},
		{"stale read after a newer one", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(0, 4, 5, update("a", "A", 10, 1, "y"), ok),
			rec(1, 6, 7, read("a"), seen("A", 12, 1, "y")),
			rec(2, 8, 9, read("a"), seen("A", 10, 1, "x")),
		}, false},
		{"update at a stale version acknowledged", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(0, 4, 5, update("a", "A", 10, 2, "x"), ok),
			rec(1, 6, 7, update("a", "A", 10, 1, "z"), ok),
		}, false},
		{"out of sequence with nothing in between", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(1, 4, 5, update("a", "A", 10, 1, "z"), sequence),
		}, false},
		{"out of sequence after a write nobody read", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(0, 4, 5, update("a", "A", 10, 1, "y"), ok),
			rec(1, 6, 7, update("a", "A", 10, 1, "z"), sequence),
		}, true},
		{"a definitely failed update never shows", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(1, 4, 5, update("a", "A", 10, 1, "z"), noQuorum),
			rec(1, 6, 7, read("a"), seen("A", 11, 1, "z")),
		}, false},
		{"an unknown update may show late", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(1, 4, 5, update("a", "A", 10, 1, "z"), unknown),
			rec(1, 6, 7, read("a"), seen("A", 10, 1, "x")),
			rec(1, 8, 9, read("a"), seen("A", 15, 1, "z")),
		}, true},
		{"an unknown update cannot be undone", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(1, 4, 5, update("a", "A", 10, 1, "z"), unknown),
			rec(1, 6, 7, read("a"), seen("A", 15, 1, "z")),
			rec(1, 8, 9, read("a"), seen("A", 10, 1, "x")),
		}, false},
		{"an unknown create shows with its ID", []record{
			rec(0, 0, 1, create("a", 2, "x"), unknown),
			rec(1, 2, 3, read("a"), notFound),
			rec(1, 4, 5, read("a"), seen("B", 20, 2, "x")),
			rec(2, 6, 7, create("a", 1, "y"), conflict),
		}, true},
		{"a name conflict with nothing there", []record{
			rec(0, 0, 1, create("a", 2, "x"), noQuorum),
			rec(2, 2, 3, create("a", 1, "y"), conflict),
		}, false},
		{"a removed instance comes back", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(0, 4, 5, svcInput{Kind: opRemove, Name: "a"}, ok),
			rec(0, 6, 7, create("a", 1, "x"), unknown),
			rec(1, 8, 9, read("a"), seen("A", 10, 1, "x")),
		}, false},
		{"remove by a stale ID is not found", []record{
			rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
			rec(1, 2, 3, read("a"), seen("A", 10, 1, "x")),
			rec(0, 4, 5, svcInput{Kind: opRemove, Name: "a"}, ok),
			rec(0, 6, 7, create("a", 1, "x"), createdAs("B")),
			rec(1, 8, 9, svcInput{Kind: opRemove, Name: "a", ID: "A"}, notFound),
			rec(1, 10, 11, read("a"), seen("B", 30, 1, "x")),
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := porcupine.CheckOperations(registryModel, operations(tc.hist))
			if got != tc.want {
				t.Fatalf("linearizable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLostWrites(t *testing.T) {
	hist := []record{
		rec(0, 0, 1, create("a", 1, "x"), createdAs("A")),
		rec(1, 2, 3, update("a", "A", 10, 3, "y"), ok),
		rec(0, 0, 1, create("b", 1, "x"), createdAs("B")),
	}
	final := map[string]regState{
		"a": {Exists: true, ID: "A", Version: 12, Replicas: 1, Label: "x"},
		"b": {Exists: true, ID: "B", Version: 11, Replicas: 1, Label: "x"},
	}
	lost := lostWrites(hist, final)
	if len(lost) != 1 || lost[0].In.Kind != opUpdate {
		t.Fatalf("lost %v, want the update of a", lost)
	}
}

func TestConvergenceProblems(t *testing.T) {
	svcs := []serviceView{{ID: "s1", Name: "web", Replicas: 2}}
	running, shutdown := model.TaskStateRunning, model.TaskStateShutdown
	good := []taskView{
		{ID: "t1", ServiceID: "s1", Slot: 1, Desired: running, State: running},
		{ID: "t2", ServiceID: "s1", Slot: 2, Desired: running, State: running},
		{ID: "t3", ServiceID: "s1", Slot: 2, Desired: shutdown, State: shutdown},
		{ID: "t4", ServiceID: "gone", Slot: 1, Desired: model.TaskStateRemove, State: shutdown},
	}
	if p := convergenceProblems(svcs, good); len(p) != 0 {
		t.Fatalf("problems in a converged state: %v", p)
	}
	bad := append(good[:3:3],
		taskView{ID: "t5", ServiceID: "s1", Slot: 2, Desired: shutdown, State: running},
		taskView{ID: "t6", ServiceID: "gone", Slot: 1, Desired: model.TaskStateRemove, State: running},
		taskView{ID: "t7", ServiceID: "s1", Slot: 3, Desired: running, State: model.TaskStatePending},
	)
	if p := convergenceProblems(svcs, bad); len(p) != 4 {
		t.Fatalf("got %d problems, want 4 (still running, two running in slot 2, removed service, slot 3): %v", len(p), p)
	}
}
