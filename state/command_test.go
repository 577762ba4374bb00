package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// TestCommandEncodingCoversEveryField round-trips a command whose every
// field is set through the binary format and through JSON: a field that
// Op (or what it holds) gains and the binary format does not write fails
// here.
func TestCommandEncodingCoversEveryField(t *testing.T) {
	var c Command
	seed := 0
	fill(reflect.ValueOf(&c).Elem(), &seed)
	b, err := c.Encode()
	if err != nil || b[0] != commandFormatBinary2 {
		t.Fatalf("encode: %v %x", err, b[:1])
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &c) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(&c)
		t.Fatalf("binary round trip:\n%s\nwant:\n%s", gb, wb)
	}
	jb, err := c.EncodeJSON()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := DecodeCommand(jb)
	if err != nil || !reflect.DeepEqual(fromJSON, got) {
		t.Fatalf("JSON round trip differs from the binary one: %v", err)
	}
	fromFormat1, err := DecodeCommand(c.encodeBinaryFormat(commandFormatBinary))
	if err != nil || !reflect.DeepEqual(fromFormat1, got) {
		t.Fatalf("format 1 round trip differs from format 2's: %v", err)
	}
}

// TestCommandEncodingKeepsJSONSemantics checks the cases where JSON's
// omitempty shaped what a command decodes to: empty lists and zero
// values decode as they did from JSON.
func TestCommandEncodingKeepsJSONSemantics(t *testing.T) {
	loc := time.FixedZone("", -7*3600)
	cmds := []*Command{
		{},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, loc), Ops: []Op{{Type: OpNoop}}},
		{Ops: []Op{{Type: OpAssignTasks, Assignments: []Assignment{}, IDs: []string{}, NewTasks: []NewTask{}}}},
		{Ops: []Op{{Type: OpTaskStatus, ID: "n1", TaskStatuses: []model.TaskStatusUpdate{{TaskID: "t", Status: model.TaskStatus{Ports: []model.PortConfig{}, Container: &model.ContainerStatus{}}}}}}},
		{Ops: []Op{{Type: OpNodeStatus, NodeStatuses: []NodeStatusUpdate{{ID: "n", Description: &model.NodeDescription{}}}}, {Type: "unknown-op"}}},
		{Ops: []Op{{Type: OpImport, Import: &ImportSet{}, Cluster: &model.Cluster{}}}},
		{Ops: []Op{{Type: OpCreateService, Service: &model.Service{}}}},
		{Ops: []Op{{Type: OpUpdateService, Service: serviceWithEmptyValues(loc)}}},
		{Ops: []Op{{Type: OpCreateTasks, NewTasks: []NewTask{{ID: "é\x00\xff"}}}}},
	}
	for i, c := range cmds {
		jb, _ := c.EncodeJSON()
		want, err := DecodeCommand(jb)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := c.Encode()
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		// Times compare by instant and offset: each decoder makes its
		// own zone.
		if !got.Time.Equal(want.Time) || zoneOffset(got.Time) != zoneOffset(want.Time) {
			t.Fatalf("%d: time %v, JSON gives %v", i, got.Time, want.Time)
		}
		got.Time, want.Time = time.Time{}, time.Time{}
		if i == len(cmds)-1 {
			// JSON replaces invalid UTF-8; the binary format keeps bytes.
			if got.Ops[0].NewTasks[0].ID != "é\x00\xff" {
				t.Fatalf("bytes of an ID changed: %q", got.Ops[0].NewTasks[0].ID)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Fatalf("%d: binary gives\n%s\nJSON gives\n%s\n%#v\n%#v", i, gb, wb, got, want)
		}
	}
}

// serviceWithEmptyValues is a service whose lists and maps are empty but
// not nil, whose optional values are set to their zero values, and whose
// times are in the local zone, UTC and another zone.
func serviceWithEmptyValues(loc *time.Location) *model.Service {
	no := false
	var zero time.Duration
	now := time.Now()
	utc := now.UTC()
	spec := model.ServiceSpec{
		Annotations: model.Annotations{Labels: map[string]string{}},
		Task: model.TaskSpec{
			Container: model.ContainerSpec{
				Labels: map[string]string{}, Command: []string{}, Args: []string{}, Env: []string{},
				Init: &no, Mounts: []model.Mount{}, StopGracePeriod: &zero,
				Healthcheck: &model.HealthConfig{Test: []string{}},
				Secrets:     []model.SecretReference{}, Configs: []model.ConfigReference{},
			},
			Restart:   model.RestartPolicy{Delay: &zero},
			Placement: model.Placement{Constraints: []string{}, Preferences: []model.PlacementPreference{}, Platforms: []model.Platform{}},
			Networks:  []model.NetworkAttachmentConfig{{Aliases: []string{}}},
		},
		Mode:     model.ServiceMode{Global: &model.GlobalService{}, GlobalJob: &model.GlobalJob{}},
		Update:   &model.UpdateConfig{},
		Endpoint: &model.EndpointSpec{Ports: []model.PortConfig{}},
	}
	return &model.Service{
		Meta:         model.Meta{CreatedAt: now, UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, loc)},
		Spec:         spec,
		PreviousSpec: &model.ServiceSpec{Mode: model.ServiceMode{ReplicatedJob: &model.ReplicatedJob{}}},
		UpdateStatus: &model.UpdateStatus{StartedAt: &utc, CompletedAt: &time.Time{}},
		Endpoint:     &model.Endpoint{Ports: []model.PortConfig{}, VirtualIPs: []model.EndpointVirtualIP{}},
		JobStatus:    &model.JobStatus{LastExecution: now},
	}
}

func zoneOffset(t time.Time) int { _, off := t.Zone(); return off }

// TestDecodeGoldenJSONCommands decodes log entries written by the store
// before the binary format and applies them: they give the state the same
// commands give today, in either encoding.
func TestDecodeGoldenJSONCommands(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "commands-json.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	fromJSON, fromBinary := NewStore(), NewStore()
	for i, e := range entries {
		if e[0] != '{' {
			t.Fatalf("entry %d is not JSON", i)
		}
		c, err := DecodeCommand(e)
		if err != nil {
			t.Fatal(err)
		}
		if res := fromJSON.Apply(Entry{Index: uint64(i + 1), Cmd: c})[0]; res.Err() != nil {
			t.Fatalf("entry %d: %v", i, res.Err())
		}
		b, _ := c.Encode()
		c2, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if j1, j2 := mustJSON(t, c), mustJSON(t, c2); j1 != j2 {
			t.Fatalf("entry %d re-encoded differs:\n%s\n%s", i, j1, j2)
		}
		fromBinary.Apply(Entry{Index: uint64(i + 1), Cmd: c2})
	}
	want := dumpStore(t, goldenStore(t))
	if got := dumpStore(t, fromJSON); got != want {
		t.Fatalf("golden JSON entries give:\n%s\nwant:\n%s", got, want)
	}
	if got := dumpStore(t, fromBinary); got != want {
		t.Fatal("golden entries re-encoded in binary give another state")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBinaryAndJSONLogsGiveOneState replays random histories through both
// encodings: the stores are the same.
func TestBinaryAndJSONLogsGiveOneState(t *testing.T) {
	for seed := range uint64(3) {
		bin := randomWorkloadOn(newApplier(t), seed, 300)
		js := randomWorkloadOn(&applier{t: t, s: NewStore(), legacyJSON: true}, seed, 300)
		if dumpStore(t, bin.s) != dumpStore(t, js.s) {
			t.Fatalf("seed %d: the binary and JSON logs give different stores", seed)
		}
	}
}

// TestDecodeCommandRefusesDamage decodes every truncation of a command,
// and other damage: an ErrInvalid error, never a panic.
func TestDecodeCommandRefusesDamage(t *testing.T) {
	for i, c := range goldenCommands() {
		b, _ := c.Encode()
		for n := range len(b) {
			if _, err := DecodeCommand(b[:n]); !errors.Is(err, ErrInvalid) {
				t.Fatalf("command %d truncated at %d: %v", i, n, err)
			}
		}
		if _, err := DecodeCommand(append(b, 0)); err == nil || !strings.Contains(err.Error(), "left over") {
			t.Fatalf("command %d with a byte more: %v", i, err)
		}
	}
	if _, err := DecodeCommand([]byte{3, 0}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown command format 3") {
		t.Fatalf("format 3: %v", err)
	}
	if _, err := DecodeCommand(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty: %v", err)
	}
	// Unknown field bits are refused.
	e := &encoder{}
	e.byte(commandFormatBinary)
	e.time(time.Time{})
	e.uvarint(1)
	e.sym(string(OpNoop))
	e.uvarint(opFieldsEnd)
	if _, err := DecodeCommand(e.buf); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown fields") {
		t.Fatalf("unknown fields: %v", err)
	}
}

// FuzzDecodeCommand decodes damaged commands: an error or a command that
// encodes again, never a panic.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range goldenCommands() {
		b, _ := c.Encode()
		f.Add(b)
		jb, _ := c.EncodeJSON()
		f.Add(jb)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if _, err := c.Encode(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEncodedCommandSize checks what the binary format saves on the
// scheduler's largest write.
func TestEncodedCommandSize(t *testing.T) {
	var as []Assignment
	for i := range 10000 {
		as = append(as, Assignment{TaskID: fmt.Sprintf("%025d", i), NodeID: fmt.Sprintf("node%021d", i%100)})
	}
	c := &Command{Time: time.Now(), Ops: []Op{{Type: OpAssignTasks, Assignments: as}}}
	b, _ := c.Encode()
	jb, _ := c.EncodeJSON()
	if len(b)*2 > len(jb) {
		t.Fatalf("binary %d bytes, JSON %d", len(b), len(jb))
	}
	got, err := DecodeCommand(b)
	if err != nil || !reflect.DeepEqual(got.Ops, c.Ops) {
		t.Fatalf("round trip: %v", err)
	}
}

// TestSafeToRetryCommandsApplyAtMostOnce checks SafeToRetry's promise
// against the store: a command it accepts, applied twice in a row, applies
// the first time and fails a precondition the second, for every operation
// it accepts; and it refuses the operations that could apply twice.
func TestSafeToRetryCommandsApplyAtMostOnce(t *testing.T) {
	// setup creates a cluster, a node, a service and a task, and returns
	// their versions.
	setup := func(a *applier) (cluster, node, service, task uint64) {
		a.mustApply(Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: "c1", Spec: model.DefaultClusterSpec()}},
			Op{Type: OpCreateNode, Node: &model.Node{ID: "n1", Role: model.RoleWorker}},
			Op{Type: OpCreateService, Service: testService("s1", "web", 1)})
		a.mustApply(Op{Type: OpCreateTasks, ID: "s1", SpecVersion: 1, NewTasks: []NewTask{{ID: "t1", Slot: 1}}})
		var err error
		_ = a.s.View(func(tx ReadTx) error {
			c, n, s, tk := tx.GetCluster("c1"), tx.GetNode("n1"), tx.GetService("s1"), tx.GetTask("t1")
			if c == nil || n == nil || s == nil || tk == nil {
				err = errors.New("setup objects missing")
				return nil
			}
			cluster, node, service, task = c.Version.Index, n.Version.Index, s.Version.Index, tk.Version.Index
			return nil
		})
		if err != nil {
			a.t.Fatal(err)
		}
		return
	}
	type versions struct{ cluster, node, service, task uint64 }
	safe := []struct {
		name string
		ops  func(v versions, a *applier) []Op
	}{
		{"noop", func(_ versions, _ *applier) []Op { return []Op{{Type: OpNoop}} }},
		{"update service", func(v versions, a *applier) []Op {
			s := a.service("s1").Copy()
			s.Spec.Mode.Replicated.Replicas = 5
			return []Op{{Type: OpUpdateService, Service: s, Version: v.service}}
		}},
		{"update node", func(v versions, a *applier) []Op {
			var n *model.Node
			_ = a.s.View(func(tx ReadTx) error { n = tx.GetNode("n1").Copy(); return nil })
			n.Spec.Availability = model.AvailabilityDrain
			return []Op{{Type: OpUpdateNode, Node: n, Version: v.node}}
		}},
		{"update cluster", func(v versions, a *applier) []Op {
			var c *model.Cluster
			_ = a.s.View(func(tx ReadTx) error { c = tx.GetCluster("c1").Copy(); return nil })
			return []Op{{Type: OpUpdateCluster, Cluster: c, Version: v.cluster}}
		}},
		{"update task", func(v versions, a *applier) []Op {
			tk := a.task("t1").Copy()
			return []Op{{Type: OpUpdateTask, Task: tk, Version: v.task}}
		}},
		{"delete service at a version", func(v versions, _ *applier) []Op {
			return []Op{{Type: OpDeleteService, ID: "s1", Version: v.service}}
		}},
		{"delete node at a version", func(v versions, _ *applier) []Op {
			return []Op{{Type: OpDeleteNode, ID: "n1", Version: v.node}}
		}},
		{"two ops", func(v versions, a *applier) []Op {
			s := a.service("s1").Copy()
			s.Spec.Mode.Replicated.Replicas = 2
			var n *model.Node
			_ = a.s.View(func(tx ReadTx) error { n = tx.GetNode("n1").Copy(); return nil })
			n.Spec.Availability = model.AvailabilityPause
			return []Op{{Type: OpUpdateService, Service: s, Version: v.service},
				{Type: OpUpdateNode, Node: n, Version: v.node}}
		}},
	}
	// Between the two applications another client may delete the
	// objects: the retry must still not apply.
	deleteAll := []Op{{Type: OpDeleteService, ID: "s1"}, {Type: OpDeleteNode, ID: "n1"}, {Type: OpDeleteService, ID: "s2"}, {Type: OpDeleteNode, ID: "n2"}}
	for _, tc := range safe {
		for _, between := range []string{"in a row", "after deletes"} {
			t.Run(tc.name+" "+between, func(t *testing.T) {
				a := newApplier(t)
				c, n, s, tk := setup(a)
				ops := tc.ops(versions{c, n, s, tk}, a)
				if cmd := (&Command{Ops: ops}); !cmd.SafeToRetry() {
					t.Fatalf("SafeToRetry refuses %v", ops)
				}
				if err := a.apply(ops...).Err(); err != nil {
					t.Fatalf("first application: %v", err)
				}
				if between == "after deletes" {
					for _, d := range deleteAll {
						_ = a.apply(d) // some find nothing to delete
					}
				}
				second := a.apply(ops...)
				if tc.name == "noop" {
					return // changes nothing: applying it twice is harmless
				}
				for i, r := range second {
					if r.Err == nil || r.Applied != 0 {
						t.Fatalf("op %d (%s) applied twice: %+v", i, ops[i].Type, r)
					}
				}
			})
		}
	}

	unsafe := []Op{
		// A create applied, then the object deleted: a retry would
		// create it again (TestRetriedCreateCouldResurrect).
		{Type: OpCreateService, Service: testService("s2", "api", 1)},
		{Type: OpCreateNode, Node: &model.Node{ID: "n2", Role: model.RoleWorker}},
		{Type: OpDeleteService, ID: "s1"},
		{Type: OpDeleteNode, ID: "n1"},
		{Type: OpNodeStatus},
		{Type: OpServiceUpdateStatus},
		{Type: OpRollbackService},
		{Type: OpCreateTasks},
		{Type: OpSetTasksDesired},
		{Type: OpAssignTasks},
		{Type: OpTaskPending},
		{Type: OpTaskStatus},
		{Type: OpDeleteTasks},
		{Type: OpImport},
	}
	for _, op := range unsafe {
		cmd := &Command{Ops: []Op{{Type: OpNoop}, op}}
		if cmd.SafeToRetry() {
			t.Errorf("SafeToRetry accepts a command with %s (version %d)", op.Type, op.Version)
		}
	}
	if (&Command{}).SafeToRetry() {
		t.Error("SafeToRetry accepts an empty command")
	}
}
