package allocator

import (
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// lifecycle returns the log entries of the 100,000-task scale run
// (bench/sim) as the leader applies them: the cluster and 1,000 nodes, a
// service of n replicas without networks, its tasks created 1,000 per
// command as the orchestrator writes them, assigned in one command as the
// scheduler does, then reported accepted .. running in batches of 1,000.
// With nets set, the service is on an overlay network.
func lifecycle(n int, nets bool) []state.Entry {
	var entries []state.Entry
	idx := uint64(0)
	add := func(ops ...state.Op) {
		idx++
		entries = append(entries, state.Entry{Index: idx, Cmd: &state.Command{Time: time.Unix(1700000000, 0), Ops: ops}})
	}
	add(state.Op{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: "c", Spec: model.DefaultClusterSpec()}})
	var nodeOps []state.Op
	for i := range 1000 {
		nodeOps = append(nodeOps, state.Op{Type: state.OpCreateNode, Node: &model.Node{ID: fmt.Sprintf("node%04d", i)}})
	}
	add(nodeOps...)
	var svcNets []string
	if nets {
		add(state.Op{Type: state.OpCreateNetwork, Network: network("net", "net", "10.8.0.0/15")})
		add(state.Op{Type: state.OpAllocateNetwork, Version: idx,
			Network: &model.Network{ID: "net", VNI: 4096, IPAM: []model.IPAMConfig{{Subnet: "10.8.0.0/15", Gateway: "10.8.0.1"}}}})
		svcNets = []string{"net"}
	}
	add(state.Op{Type: state.OpCreateService, Service: service("svc", "sim", uint64(n), svcNets)})
	specVersion := idx
	for from := 0; from < n; from += 1000 {
		var nts []state.NewTask
		for i := from; i < min(from+1000, n); i++ {
			nts = append(nts, state.NewTask{ID: fmt.Sprintf("task%06d", i), Slot: uint64(i + 1)})
		}
		add(state.Op{Type: state.OpCreateTasks, ID: "svc", SpecVersion: specVersion, NewTasks: nts})
	}
	if nets {
		// What the allocator writes (the benchmark feeds it the same).
		var tns []state.TaskNetworks
		for i := range n {
			tns = append(tns, state.TaskNetworks{TaskID: fmt.Sprintf("task%06d", i), Networks: []model.NetworkAttachment{
				{NetworkID: "net", Addresses: []string{fmt.Sprintf("10.%d.%d.%d/15", 8+(i+2)>>16, ((i+2)>>8)&255, (i+2)&255)}}}})
		}
		add(state.Op{Type: state.OpAllocateTasks, TaskNetworks: tns})
	}
	var as []state.Assignment
	for i := range n {
		as = append(as, state.Assignment{TaskID: fmt.Sprintf("task%06d", i), NodeID: fmt.Sprintf("node%04d", i%1000)})
	}
	add(state.Op{Type: state.OpAssignTasks, Assignments: as})
	for _, st := range []model.TaskState{model.TaskStateAccepted, model.TaskStatePreparing, model.TaskStateReady, model.TaskStateStarting, model.TaskStateRunning} {
		for node := range 1000 {
			var us []model.TaskStatusUpdate
			for i := node; i < n; i += 1000 {
				us = append(us, model.TaskStatusUpdate{TaskID: fmt.Sprintf("task%06d", i), Status: model.TaskStatus{State: st}})
			}
			add(state.Op{Type: state.OpTaskStatus, ID: fmt.Sprintf("node%04d", node), TaskStatuses: us})
		}
	}
	return entries
}

// BenchmarkScaleRunLifecycle measures what the allocator adds to the
// leader in the 100,000-task scale run: the store applying the run's
// entries alone, and the store plus an allocator term observing every
// change (as its change feed delivers them) and making its passes. The
// difference is the allocation cost; BENCHMARKS.md compares it with the
// store's own.
func BenchmarkScaleRunLifecycle(b *testing.B) {
	for _, nets := range []bool{false, true} {
		entries := lifecycle(100000, nets)
		for _, withAllocator := range []bool{false, true} {
			name := fmt.Sprintf("networks=%v/allocator=%v", nets, withAllocator)
			b.Run(name, func(b *testing.B) {
				// CPU time, not wall time: the machine is shared.
				cpu0 := cpuTime()
				defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op") }()
				for range b.N {
					s := state.NewStore()
					var t *term
					var w *state.Watcher
					if withAllocator {
						a := New(s, nil, DefaultConfig())
						a.log = slog.New(slog.DiscardHandler)
						t = newTerm(a)
						var err error
						if w, err = s.ViewAndWatch(t.seed, state.WithFilter(relevant)); err != nil {
							b.Fatal(err)
						}
					}
					for _, e := range entries {
						s.Apply(e)
						if w != nil {
							batches, err := w.Drain()
							if err != nil {
								b.Fatal(err)
							}
							for _, bt := range batches {
								for _, ev := range bt.Events {
									t.observe(ev)
								}
							}
							// A pass, its writes taken as applied.
							p := &plan{}
							t.planNetworks(p)
							t.planServices(p)
							t.planTasks(p)
							t.planNodes(p)
							for _, c := range p.changes {
								c.commit()
							}
						}
					}
					if w != nil {
						w.Close()
					}
				}
			})
		}
	}
}

// cpuTime is the CPU this process used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
