package state

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// Benchmarks of the store's write path, change feed and snapshots at the
// scale of a large swarm: 100,000 tasks on 1,000 nodes. Each op is the
// whole batch (100k tasks created, assigned, reported, written or read);
// fixtures are built with the timer stopped. Run with
//
//	go test -run '^$' -bench . -benchmem -benchtime 3x ./state/
//
// BENCHMARKS.md ("State store") has the results.

const (
	benchNodes = 1_000
	benchTasks = 100_000
)

var benchT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// benchIDs returns n deterministic IDs shaped like NewID's.
func benchIDs(r *rand.Rand, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		s := strconv.FormatUint(r.Uint64(), 36) + strconv.FormatUint(r.Uint64(), 36)
		for len(s) < model.IDLength {
			s = "0" + s
		}
		ids[i] = s[:model.IDLength]
	}
	return ids
}

// benchFixture is a store with a cluster, nodes and services, and the
// IDs of the tasks the benchmarks write.
type benchFixture struct {
	s        *Store
	nodes    []string
	services []*model.Service
	tasks    []string
	t        time.Time
}

func (f *benchFixture) apply(tb testing.TB, ops ...Op) Results {
	f.t = f.t.Add(time.Millisecond)
	res := f.s.Apply(Entry{Index: f.s.Index() + 1, Cmd: &Command{Time: f.t, Ops: ops}})[0]
	if err := res.Err(); err != nil {
		tb.Fatal(err)
	}
	return res
}

func benchServiceSpec(name string) model.ServiceSpec {
	grace := 30 * time.Second
	delay := 5 * time.Second
	return model.ServiceSpec{
		Annotations: model.Annotations{Name: name, Labels: map[string]string{"com.example.team": "web", "com.example.tier": "frontend"}},
		Task: model.TaskSpec{
			Container: model.ContainerSpec{
				Image:           "registry.example.com/web/frontend:1.42.7@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				Labels:          map[string]string{"com.example.log": "json"},
				Command:         []string{"/bin/frontend"},
				Args:            []string{"--listen", ":8080", "--upstream", "api:9000"},
				Env:             []string{"MODE=production", "LOG_LEVEL=info", "GOMAXPROCS=2"},
				Mounts:          []model.Mount{{Type: model.MountTypeVolume, Source: "cache", Target: "/var/cache/frontend"}},
				StopGracePeriod: &grace,
				Healthcheck:     &model.HealthConfig{Test: []string{"CMD", "/bin/frontend", "-health"}, Interval: 10 * time.Second, Retries: 3},
			},
			Resources: model.ResourceRequirements{Reservations: model.Resources{NanoCPUs: 5e7, MemoryBytes: 64 << 20}, Limits: model.Resources{MemoryBytes: 256 << 20}},
			Restart:   model.RestartPolicy{Condition: model.RestartOnAny, Delay: &delay},
			Placement: model.Placement{Constraints: []string{"node.role==worker", "node.labels.tier!=batch"}},
		},
		Mode:     model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: benchTasks}},
		Endpoint: &model.EndpointSpec{Ports: []model.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishedPort: 30080, PublishMode: "host"}}},
	}
}

// newBenchFixture returns a store with a cluster, benchNodes nodes and
// services services, and benchTasks task IDs (not yet created).
func newBenchFixture(tb testing.TB, services int) *benchFixture {
	r := rand.New(rand.NewPCG(1, 2))
	f := &benchFixture{s: NewStore(), t: benchT0}
	f.apply(tb, Op{Type: OpCreateCluster, Cluster: &model.Cluster{ID: benchIDs(r, 1)[0], Spec: model.DefaultClusterSpec()}})
	f.nodes = benchIDs(r, benchNodes)
	ops := make([]Op, 0, len(f.nodes))
	for i, id := range f.nodes {
		role := model.RoleWorker
		if i < 5 {
			role = model.RoleManager
		}
		ops = append(ops, Op{Type: OpCreateNode, Node: &model.Node{
			ID:   id,
			Spec: model.NodeSpec{DesiredRole: role, Availability: model.AvailabilityActive, Annotations: model.Annotations{Labels: map[string]string{"zone": "z" + strconv.Itoa(i%3)}}},
			Role: role,
			Description: model.NodeDescription{
				Hostname:  "node-" + strconv.Itoa(i),
				Platform:  model.Platform{OS: "linux", Architecture: "amd64"},
				Resources: model.Resources{NanoCPUs: 32e9, MemoryBytes: 128 << 30},
				Engine:    model.Engine{EngineVersion: "28.5.2"},
			},
			Status: model.NodeStatus{State: model.NodeStateReady, Addr: "10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250)},
		}})
	}
	f.apply(tb, ops...)
	for i := range services {
		id := benchIDs(r, 1)[0]
		f.apply(tb, Op{Type: OpCreateService, Service: &model.Service{ID: id, Spec: benchServiceSpec("svc" + strconv.Itoa(i))}})
		var s *model.Service
		_ = f.s.View(func(tx ReadTx) error { s = tx.GetService(id); return nil })
		f.services = append(f.services, s)
	}
	f.tasks = benchIDs(r, benchTasks)
	return f
}

// createOps returns the orchestrator's writes of the fixture's tasks: one
// OpCreateTasks per service, the tasks split evenly.
func (f *benchFixture) createOps() []Op {
	per := len(f.tasks) / len(f.services)
	ops := make([]Op, len(f.services))
	for i, s := range f.services {
		nts := make([]NewTask, per)
		for j := range nts {
			nts[j] = NewTask{ID: f.tasks[i*per+j], Slot: uint64(j + 1)}
		}
		ops[i] = Op{Type: OpCreateTasks, ID: s.ID, SpecVersion: s.SpecVersion.Index, NewTasks: nts}
	}
	return ops
}

// assignOp returns the scheduler's write: every task on a node, round
// robin.
func (f *benchFixture) assignOp() Op {
	as := make([]Assignment, len(f.tasks))
	for i, id := range f.tasks {
		as[i] = Assignment{TaskID: id, NodeID: f.nodes[i%len(f.nodes)]}
	}
	return Op{Type: OpAssignTasks, Assignments: as}
}

// statusOps returns one OpTaskStatus per node reporting its tasks in
// state st, as the dispatcher writes agents' reports.
func (f *benchFixture) statusOps(st model.TaskState, msg string) []Op {
	byNode := make([][]model.TaskStatusUpdate, len(f.nodes))
	for i, id := range f.tasks {
		n := i % len(f.nodes)
		u := model.TaskStatusUpdate{TaskID: id, Status: model.TaskStatus{Timestamp: f.t, State: st, Message: msg}}
		if st >= model.TaskStateStarting {
			u.Status.Container = &model.ContainerStatus{ContainerID: "c" + id + id, PID: 1000 + i}
		}
		byNode[n] = append(byNode[n], u)
	}
	ops := make([]Op, len(f.nodes))
	for i, us := range byNode {
		ops[i] = Op{Type: OpTaskStatus, ID: f.nodes[i], TaskStatuses: us}
	}
	return ops
}

// newRunningFixture returns a fixture whose benchTasks tasks of ten
// services are assigned and running.
func newRunningFixture(tb testing.TB) *benchFixture {
	f := newBenchFixture(tb, 10)
	f.apply(tb, f.createOps()...)
	f.apply(tb, f.assignOp())
	f.apply(tb, f.statusOps(model.TaskStateRunning, "started")...)
	return f
}

func gc() { runtime.GC() }

// meter runs a benchmark's timer and also counts the CPU time (user and
// system, every thread: GC included) spent while it runs, reported as
// cpu-ms/op: on a shared machine it varies less than the wall time.
type meter struct {
	b     *testing.B
	cpu   time.Duration
	start time.Duration
}

func newMeter(b *testing.B) *meter {
	b.ReportAllocs()
	b.StopTimer()
	return &meter{b: b}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *meter) startTimer() {
	gc()
	m.b.StartTimer()
	m.start = cpuTime()
}

func (m *meter) stopTimer() {
	m.cpu += cpuTime() - m.start
	m.b.StopTimer()
}

func (m *meter) report() {
	m.b.ReportMetric(float64(m.cpu.Microseconds())/1e3/float64(m.b.N), "cpu-ms/op")
}

// BenchmarkApplyCreateTasks100k is the orchestrator's write of 100k new
// tasks of one service in one entry.
func BenchmarkApplyCreateTasks100k(b *testing.B) {
	m := newMeter(b)
	for range b.N {
		f := newBenchFixture(b, 1)
		op := f.createOps()
		m.startTimer()
		r := f.apply(b, op...)
		m.stopTimer()
		if r[0].Applied != benchTasks {
			b.Fatalf("applied %d", r[0].Applied)
		}
	}
	m.report()
}

// BenchmarkApplyAssignTasks100k is the scheduler's write of 100k
// assignments in one entry.
func BenchmarkApplyAssignTasks100k(b *testing.B) {
	m := newMeter(b)
	for range b.N {
		f := newBenchFixture(b, 1)
		f.apply(b, f.createOps()...)
		op := f.assignOp()
		m.startTimer()
		r := f.apply(b, op)
		m.stopTimer()
		if r[0].Applied != benchTasks {
			b.Fatalf("applied %d", r[0].Applied)
		}
	}
	m.report()
}

// BenchmarkApplyTaskStatus1kNodes100Tasks is a round of status reports
// of 1,000 nodes running 100 tasks each, as the dispatcher writes them:
// entries of up to 2,000 reports (its MaxBatch), one OpTaskStatus per
// node, so 50 entries of 20 nodes.
func BenchmarkApplyTaskStatus1kNodes100Tasks(b *testing.B) { benchTaskStatus(b, 20) }

// BenchmarkApplyTaskStatus1kNodes100TasksOneNodePerEntry is the same round
// in 1,000 entries of one node each, the least batching: the nodes each
// write copies are shared by fewer reports.
func BenchmarkApplyTaskStatus1kNodes100TasksOneNodePerEntry(b *testing.B) { benchTaskStatus(b, 1) }

func benchTaskStatus(b *testing.B, nodesPerEntry int) {
	m := newMeter(b)
	f := newBenchFixture(b, 1)
	f.apply(b, f.createOps()...)
	f.apply(b, f.assignOp())
	for i := range b.N {
		ops := f.statusOps(model.TaskStateRunning, "round "+strconv.Itoa(i))
		applied := 0
		m.startTimer()
		for len(ops) > 0 {
			k := min(nodesPerEntry, len(ops))
			for _, r := range f.apply(b, ops[:k]...) {
				applied += r.Applied
			}
			ops = ops[k:]
		}
		m.stopTimer()
		if applied != benchTasks {
			b.Fatalf("applied %d", applied)
		}
	}
	m.report()
}

// BenchmarkWatch100kEvents is the create of 100k tasks with the manager's
// watchers registered (scheduler-, orchestrator- and dispatcher-like
// filters, node-only filters and an unfiltered one), each draining the
// 100k-event batch. Compare with BenchmarkApplyCreateTasks100k for the cost
// of the feed.
func BenchmarkWatch100kEvents(b *testing.B) {
	m := newMeter(b)
	filters := []func(Event) bool{
		nil,
		func(e Event) bool { _, ok := e.Object.(*model.Task); return ok },
		func(e Event) bool {
			t, ok := e.Object.(*model.Task)
			return !ok || t.Status.State >= model.TaskStatePending
		},
		func(e Event) bool { return e.Object.Kind() == model.KindNode },
		func(e Event) bool { return e.Object.Kind() == model.KindNode && e.Object.GetID() == "self" },
	}
	for range b.N {
		f := newBenchFixture(b, 1)
		op := f.createOps()
		m.startTimer()
		ws := make([]*Watcher, len(filters))
		for i, fn := range filters {
			var opts []WatchOption
			if fn != nil {
				opts = append(opts, WithFilter(fn))
			}
			var n int
			w, err := f.s.ViewAndWatch(func(tx ReadTx) error {
				return tx.ForEachTask(All, func(*model.Task) bool { n++; return true })
			}, opts...)
			if err != nil {
				b.Fatal(err)
			}
			ws[i] = w
		}
		f.apply(b, op...)
		counts := make([]int, len(ws))
		for i, w := range ws {
			batches, err := w.Drain()
			if err != nil {
				b.Fatal(err)
			}
			for _, bt := range batches {
				counts[i] += len(bt.Events)
			}
			w.Close()
		}
		m.stopTimer()
		for i, n := range counts {
			if i < 3 && n != benchTasks {
				b.Fatalf("watcher %d got %d events", i, n)
			}
		}
	}
	m.report()
}

// BenchmarkSnapshotWriteTo100k writes a snapshot of 100k running tasks
// of ten services on 1k nodes.
func BenchmarkSnapshotWriteTo100k(b *testing.B) {
	m := newMeter(b)
	f := newRunningFixture(b)
	var size int64
	for range b.N {
		m.startTimer()
		n, err := f.s.Snapshot().WriteTo(io.Discard)
		m.stopTimer()
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	m.report()
	b.ReportMetric(float64(size)/1e6, "MB-snapshot")
}

// BenchmarkRestore100k restores that snapshot into a new store, and
// reports the live heap of the restored store.
func BenchmarkRestore100k(b *testing.B) {
	m := newMeter(b)
	f := newRunningFixture(b)
	var buf bytes.Buffer
	if _, err := f.s.Snapshot().WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	f = nil
	var s *Store
	for range b.N {
		s = NewStore()
		m.startTimer()
		err := s.Restore(bytes.NewReader(buf.Bytes()))
		m.stopTimer()
		if err != nil {
			b.Fatal(err)
		}
	}
	m.report()
	buf = bytes.Buffer{}
	gc()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/1e6, "MB-heap")
	runtime.KeepAlive(s)
}

// BenchmarkCommandEncodeAssign100k encodes the scheduler's command for
// the Raft log.
func BenchmarkCommandEncodeAssign100k(b *testing.B) {
	m := newMeter(b)
	f := newBenchFixture(b, 1)
	cmd := &Command{Time: benchT0, Ops: []Op{f.assignOp()}}
	var size int
	for range b.N {
		m.startTimer()
		data, err := cmd.Encode()
		m.stopTimer()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	m.report()
	b.ReportMetric(float64(size)/1e6, "MB-entry")
}

// BenchmarkCommandDecodeAssign100k decodes it, as every manager's FSM
// does.
func BenchmarkCommandDecodeAssign100k(b *testing.B) {
	m := newMeter(b)
	f := newBenchFixture(b, 1)
	data, err := (&Command{Time: benchT0, Ops: []Op{f.assignOp()}}).Encode()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		m.startTimer()
		_, err := DecodeCommand(data)
		m.stopTimer()
		if err != nil {
			b.Fatal(err)
		}
	}
	m.report()
}

// benchServiceUpdate is the command of a `docker service scale`: a
// service with Docker's default update and rollback configs, a label and a
// previous spec, as bench/writes sends it.
func benchServiceUpdate() *Command {
	u, r := model.DefaultUpdateConfig(), model.DefaultUpdateConfig()
	spec := model.ServiceSpec{
		Annotations: model.Annotations{Name: "bench-17", Labels: map[string]string{"com.docker.stack.namespace": "bench"}},
		Task: model.TaskSpec{
			Container: model.ContainerSpec{Image: "shoal/demoapp:latest", Env: []string{"A=1"}},
			Restart:   model.RestartPolicy{Condition: model.RestartOnAny},
		},
		Mode:     model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}},
		Update:   &u,
		Rollback: &r,
		Endpoint: &model.EndpointSpec{Mode: model.ResolutionModeVIP},
	}
	prev := spec
	now := time.Now().UTC()
	s := &model.Service{ID: model.NewID(), Meta: model.Meta{Version: model.Version{Index: 41}, CreatedAt: now, UpdatedAt: now},
		Spec: spec, PreviousSpec: &prev, SpecVersion: model.Version{Index: 40}}
	return NewCommand(Op{Type: OpUpdateService, ID: s.ID, Version: 41, Service: s})
}

// BenchmarkCommandServiceUpdate encodes and decodes a service update in
// the log's format 2 (binary service) and format 1 (the service as JSON):
// every manager decodes each one it applies.
func BenchmarkCommandServiceUpdate(b *testing.B) {
	c := benchServiceUpdate()
	for _, f := range []struct {
		name   string
		format byte
	}{{"format2", commandFormatBinary2}, {"format1-json", commandFormatBinary}} {
		b.Run("encode/"+f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.encodeBinaryFormat(f.format)
			}
		})
		enc := c.encodeBinaryFormat(f.format)
		b.Run("decode/"+f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := DecodeCommand(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
