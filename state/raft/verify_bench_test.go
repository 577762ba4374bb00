package raft

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// BenchmarkOpenVerify measures what the checks of a damaged state cost at
// open (checkLogFile and verifyState): a one-manager log of b.N-independent
// size, 12,000 entries (about TrailingLogs plus what a busy second adds),
// encrypted as in production, and a snapshot of the services they made.
func BenchmarkOpenVerify(b *testing.B) {
	for _, entries := range []int{1000, 12000} {
		b.Run(fmt.Sprintf("%d entries", entries), func(b *testing.B) {
			dir := b.TempDir()
			cfg := DefaultConfig()
			cfg.NodeID, cfg.Addr, cfg.DataDir = "n1", "10.0.0.1:2377", dir
			cfg.DataKey = encryption.GenerateDEK()
			cfg.SnapshotThreshold = 1 << 30
			cfg.TrailingLogs = 1 << 30
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			_, trans := hraft.NewInmemTransport(hraft.ServerAddress(cfg.Addr))
			n, err := New(cfg, state.NewStore(), trans, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := n.Bootstrap(); err != nil {
				b.Fatal(err)
			}
			for !n.Ready() {
				time.Sleep(10 * time.Millisecond)
			}
			var wg sync.WaitGroup
			per := entries / 50
			for w := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range per {
						s := &model.Service{ID: model.NewID(), Spec: model.ServiceSpec{
							Annotations: model.Annotations{Name: fmt.Sprintf("s-%d-%d", w, i)},
							Task:        model.TaskSpec{Container: model.ContainerSpec{Image: "demo"}},
							Mode:        model.ServiceMode{Replicated: &model.ReplicatedService{Replicas: 1}},
						}}
						if _, err := n.Propose(context.Background(), state.NewCommand(state.Op{Type: state.OpCreateService, Service: s})); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := n.Snapshot(); err != nil {
				b.Fatal(err)
			}
			n.Shutdown()
			b.ResetTimer()
			for range b.N {
				st, err := openStores(cfg)
				if err != nil {
					b.Fatal(err)
				}
				st.close()
			}
		})
	}
}
