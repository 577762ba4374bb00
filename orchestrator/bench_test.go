package orchestrator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// BenchmarkCreateReplicas times the rounds that create a new service's
// tasks, from the loop's first look until nothing is left to plan, the
// store's apply of the writes included (no Raft, no scheduler).
func BenchmarkCreateReplicas(b *testing.B) {
	for _, n := range []uint64{10_000, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				store := state.NewStore()
				prop := &storeProposer{store: store}
				spec := model.ServiceSpec{
					Annotations: model.Annotations{Name: "web"},
					Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "app:1"}},
					Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: n}},
				}
				if _, err := prop.Propose(context.Background(), state.NewCommand(
					state.Op{Type: state.OpCreateService, Service: &model.Service{ID: "web", Spec: spec}})); err != nil {
					b.Fatal(err)
				}
				cfg := DefaultConfig()
				cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
				tm := newLoop(New(store, prop, cfg))
				if err := store.View(tm.seed); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rounds := 0
				for len(tm.dirty) > 0 || tm.pendingFlags() {
					tm.round(context.Background())
					rounds++
				}
				b.ReportMetric(float64(rounds), "rounds")
			}
		})
	}
}
