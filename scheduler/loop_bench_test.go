package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// Benchmarks of the Scheduler's whole path on a real store: the
// orchestrator's write of N pending tasks is applied to the store, the
// change feed brings them to the scheduler, a pass places them with
// PlaceTasks and its one command is applied to the store, and the feed
// brings the assigned tasks back. Only Raft is left out: the proposer
// applies each command to the store with the next index (directProposer),
// a benchmark harness and not a product path. The loop is driven by hand
// (no debounce timer), through the same loop methods Run uses.
//
// The cluster is bench_test.go's, stored: production-like nodes (16 to 64
// CPUs, 64 to 256 GiB, zones, racks, tiers, 4 % down, paused or drained,
// 5 managers), each already running up to 8 tasks of 50 other services
// that reserve 0.5 to 2 CPUs and 1 to 4 GiB; the placed service reserves
// 0.05 CPU and 64 MiB and must avoid managers and the batch tier.
//
// Besides time and allocations per op (the whole path, as SwarmKit's
// benchmark times it) and the process's CPU time per op (cpu-ms/op, the
// garbage collector's included: it varies less than the time on a shared
// machine), each benchmark reports its parts, in ms, CPU ms and MB per
// op: create, the store's Apply of the orchestrator's write of the tasks;
// write, the store's Apply of the scheduler's command; sched, the
// scheduler's own work (the feed into NodeInfos and pending groups,
// PlaceTasks, building the command, the feed of its own write).
//
// Targets: 100k tasks on 1k nodes under 0.5 s and 500 MB allocated; 1k
// tasks on 100k nodes under 1 s. BENCHMARKS.md has the results beside
// SwarmKit's.

func BenchmarkSchedulerStore1kNodes1kTasks(b *testing.B)   { benchSchedulerStore(b, 1_000, 1_000) }
func BenchmarkSchedulerStore1kNodes10kTasks(b *testing.B)  { benchSchedulerStore(b, 1_000, 10_000) }
func BenchmarkSchedulerStore1kNodes100kTasks(b *testing.B) { benchSchedulerStore(b, 1_000, 100_000) }
func BenchmarkSchedulerStore100kNodes1kTasks(b *testing.B) { benchSchedulerStore(b, 100_000, 1_000) }

// benchStore is a stored cluster and the service whose tasks are placed.
type benchStore struct {
	st      *state.Store
	service *model.Service
}

func (bs *benchStore) apply(ops ...state.Op) state.Results {
	res := bs.st.Apply(state.Entry{Index: bs.st.Index() + 1, Cmd: &state.Command{Time: t0, Ops: ops}})[0]
	if err := res.Err(); err != nil {
		panic(err)
	}
	return res
}

func newBenchStore(nodes int) *benchStore {
	bs := &benchStore{st: state.NewStore()}
	r := rand.New(rand.NewPCG(uint64(nodes), 42))
	const others = 50
	occupants := make([][]state.NewTask, others)
	nodeOps := make([]state.Op, 0, nodes)
	for i := range nodes {
		id := strconv.FormatUint(r.Uint64(), 36) + strconv.FormatUint(r.Uint64(), 36)
		opts := []nodeOpt{
			resources(pick(r, 16.0, 32, 64), pick(r, 64*gib, 128*gib, 256*gib)),
			labels("zone=z"+strconv.Itoa(r.IntN(3)), "rack=r"+strconv.Itoa(r.IntN(40)), "tier="+pick(r, "prod", "prod", "prod", "batch")),
			engineLabels("storage=" + pick(r, "ssd", "hdd")),
			platform("linux", pick(r, "amd64", "amd64", "amd64", "arm64")),
		}
		if i < 5 {
			opts = append(opts, role(model.RoleManager))
		}
		switch k := r.IntN(100); {
		case k < 2:
			opts = append(opts, status(model.NodeStateDown))
		case k == 2:
			opts = append(opts, availability(model.AvailabilityDrain))
		case k == 3:
			opts = append(opts, availability(model.AvailabilityPause))
		}
		nodeOps = append(nodeOps, state.Op{Type: state.OpCreateNode, Node: mkNode(id, opts...)})
		for j := range r.IntN(9) {
			s := r.IntN(others)
			occupants[s] = append(occupants[s], state.NewTask{ID: fmt.Sprintf("%s-%d", id, j), NodeID: id})
		}
	}
	bs.apply(nodeOps...)
	for i, nts := range occupants {
		spec := replicatedSpec("other"+strconv.Itoa(i), 0)
		spec.Task.Resources.Reservations = model.Resources{
			NanoCPUs:    int64(pick(r, 0.5, 1, 2) * 1e9),
			MemoryBytes: pick(r, gib, 2*gib, 4*gib),
		}
		s := bs.createService(spec)
		bs.apply(state.Op{Type: state.OpCreateTasks, ID: s.ID, SpecVersion: s.SpecVersion.Index, NewTasks: nts})
		as := make([]state.Assignment, len(nts))
		for j, nt := range nts {
			as[j] = state.Assignment{TaskID: nt.ID, NodeID: nt.NodeID}
		}
		bs.apply(state.Op{Type: state.OpAssignTasks, Assignments: as})
	}
	spec := replicatedSpec("svc", 0)
	spec.Task.Resources.Reservations = model.Resources{NanoCPUs: 5e7, MemoryBytes: 64 * mib}
	spec.Task.Placement.Constraints = []string{"node.role==worker", "node.labels.tier!=batch"}
	bs.service = bs.createService(spec)
	return bs
}

func (bs *benchStore) createService(spec model.ServiceSpec) *model.Service {
	id := model.NewID()
	bs.apply(state.Op{Type: state.OpCreateService, Service: &model.Service{ID: id, Spec: spec}})
	var s *model.Service
	_ = bs.st.View(func(tx state.ReadTx) error { s = tx.GetService(id); return nil })
	return s
}

// measuringProposer applies commands to the store and measures the time
// and the memory this takes.
type measuringProposer struct {
	directProposer
	phase
}

func (p *measuringProposer) Propose(ctx context.Context, cmd *state.Command) (res state.Results, err error) {
	p.measure(func() { res, err = p.directProposer.Propose(ctx, cmd) })
	return res, err
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// cpuTime returns the CPU time the process used so far, the garbage
// collector's included: on a shared machine it varies less than the wall
// time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phase accumulates the time, CPU time and memory of one part of the path.
type phase struct {
	time  time.Duration
	cpu   time.Duration
	bytes uint64
}

func (ph *phase) measure(fn func()) {
	start, startCPU, startBytes := time.Now(), cpuTime(), totalAlloc()
	fn()
	ph.time += time.Since(start)
	ph.cpu += cpuTime() - startCPU
	ph.bytes += totalAlloc() - startBytes
}

func (ph *phase) report(b *testing.B, name string) {
	b.ReportMetric(ph.time.Seconds()*1e3/float64(b.N), name+"-ms")
	b.ReportMetric(ph.cpu.Seconds()*1e3/float64(b.N), name+"-cpu-ms")
	b.ReportMetric(float64(ph.bytes)/1e6/float64(b.N), name+"-MB")
}

func benchSchedulerStore(b *testing.B, nodes, tasks int) {
	bs := newBenchStore(nodes)
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	prop := &measuringProposer{directProposer: directProposer{store: bs.st}}
	s := New(bs.st, prop, cfg)
	tm := newLoop(s)
	w, err := bs.st.ViewAndWatch(tm.seed, state.WithFilter(relevant))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	ids := make([]string, tasks)
	newTasks := make([]state.NewTask, tasks)
	for i := range newTasks {
		ids[i] = "svc." + strconv.Itoa(i+1)
		newTasks[i] = state.NewTask{ID: ids[i], Slot: uint64(i + 1)}
	}
	drain := func() {
		if err := tm.drain(w); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()

	var create, feed, pass, confirm phase
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// The orchestrator's write, applied by the store.
		create.measure(func() {
			bs.apply(state.Op{Type: state.OpCreateTasks, ID: bs.service.ID, SpecVersion: bs.service.SpecVersion.Index, NewTasks: newTasks})
		})
		// The scheduler: feed, pass (placement and the write of its
		// command), feed of its own write.
		feed.measure(drain)
		pass.measure(func() { tm.pass(ctx) })
		confirm.measure(drain)

		b.StopTimer()
		if len(tm.pending) != 0 || tm.unconfirmed != 0 {
			b.Fatalf("%d tasks still pending, %d unconfirmed", len(tm.pending), tm.unconfirmed)
		}
		var placed int
		_ = bs.st.View(func(tx state.ReadTx) error {
			for _, id := range ids {
				if tx.GetTask(id).Status.State == model.TaskStateAssigned {
					placed++
				}
			}
			return nil
		})
		if placed != tasks {
			b.Fatalf("%d of %d tasks assigned", placed, tasks)
		}
		// Back to the cluster the next iteration expects.
		bs.apply(state.Op{Type: state.OpDeleteTasks, IDs: ids})
		drain()
		tm.firstChange, tm.due = time.Time{}, time.Time{}
		runtime.GC()
		b.StartTimer()
	}
	b.StopTimer()
	// The scheduler's own work, and the store's Apply of its command.
	write := prop.phase
	own := phase{
		time:  feed.time + pass.time - write.time + confirm.time,
		cpu:   feed.cpu + pass.cpu - write.cpu + confirm.cpu,
		bytes: feed.bytes + pass.bytes - write.bytes + confirm.bytes,
	}
	cpu := create.cpu + feed.cpu + pass.cpu + confirm.cpu
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
	create.report(b, "create")
	write.report(b, "write")
	own.report(b, "sched")
}
