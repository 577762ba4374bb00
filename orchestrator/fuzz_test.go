package orchestrator

import (
	"io"
	"log/slog"
	"testing"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// FuzzPlanService plans one replicated service whose counts come from the
// fuzzer, as a committed entry could carry them: a replica count, the
// cluster's replica limit, the update parallelism, the restart attempts,
// the replicas per node and the slot of an existing task. Planning must
// not panic (a recovered panic counts as a failure here), must not create
// more tasks than the service may have or than a round may plan, and must
// refuse a service over the limit without touching its tasks. Seeded with
// the values of issue 21.
func FuzzPlanService(f *testing.F) {
	const (
		big    = uint64(9223372036854775808)
		maxU64 = ^uint64(0)
	)
	for _, n := range []uint64{big, 10000000, maxU64, 0, 1, 3} {
		f.Add(n, uint64(0), uint64(1), uint64(0), uint64(0), uint64(1))
		f.Add(n, n, n, n, n, n)
	}
	f.Add(uint64(5), uint64(3), maxU64, big, maxU64, big)
	f.Fuzz(func(t *testing.T, replicas, limit, parallelism, attempts, perNode, slot uint64) {
		cfg := DefaultConfig()
		cfg.MaxRoundChanges = 500
		o := &Orchestrator{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		store := state.NewStore()
		cs := model.DefaultClusterSpec()
		cs.Orchestration.MaxReplicas = limit
		spec := model.ServiceSpec{
			Annotations: model.Annotations{Name: "fuzz"},
			Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: replicas}},
			Update:      &model.UpdateConfig{Parallelism: parallelism},
		}
		spec.Task.Container.Image = "app:1"
		spec.Task.Restart.MaxAttempts = attempts
		spec.Task.Placement.MaxReplicas = perNode
		svc := &model.Service{ID: "svc", Spec: spec}
		node := &model.Node{ID: "n1", Spec: model.NodeSpec{Availability: model.AvailabilityActive},
			Status: model.NodeStatus{State: model.NodeStateReady}}
		cmd := state.NewCommand(
			state.Op{Type: state.OpCreateCluster, Cluster: &model.Cluster{ID: "c", Spec: cs}},
			state.Op{Type: state.OpCreateNode, Node: node},
			state.Op{Type: state.OpCreateService, Service: svc},
		)
		cmd.Time = t0
		if err := store.Apply(state.Entry{Index: 1, Cmd: cmd})[0].Err(); err != nil {
			t.Fatal(err)
		}
		cmd = state.NewCommand(state.Op{Type: state.OpCreateTasks, ID: "svc", SpecVersion: 1, NewTasks: []state.NewTask{{ID: "t1", Slot: slot}}})
		cmd.Time = t0
		if err := store.Apply(state.Entry{Index: 2, Cmd: cmd})[0].Err(); err != nil {
			t.Fatal(err)
		}
		_ = store.View(func(tx state.ReadTx) error {
			r, err := newRound(newLoop(o), tx, t0, t0)
			if err != nil {
				t.Fatal(err)
			}
			svc := tx.GetService("svc")
			tasks, _ := tx.FindTasks(state.ByServiceID("svc"))
			if err := svc.Spec.CheckLimits(r.orchestration); err != nil {
				if replicas <= cs.Orchestration.ReplicaLimit() {
					t.Fatalf("%d replicas refused under a limit of %d: %v", replicas, cs.Orchestration.ReplicaLimit(), err)
				}
				p, err := r.service("svc")
				if err != nil {
					t.Fatal(err)
				}
				if p.items() != 0 || p.status == nil {
					t.Fatalf("a service over the limit got %d task changes and status %+v", p.items(), p.status)
				}
				return nil
			}
			if replicas > model.MaxReplicasCeiling {
				t.Fatalf("%d replicas accepted over the ceiling", replicas)
			}
			p, crash := r.plan("svc", svc, tasks)
			if crash != nil {
				t.Fatal(crash)
			}
			if len(p.create) > int(min(replicas, uint64(cfg.MaxRoundChanges))) || p.items() > cfg.MaxRoundChanges {
				t.Fatalf("%d replicas: planned %d creations, %d changes", replicas, len(p.create), p.items())
			}
			return nil
		})
	})
}
