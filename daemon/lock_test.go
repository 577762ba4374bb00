package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSecondOpenOfADataDirIsRefused: while a node holds its data dir,
// every way to start a node from that dir (init, join, run, unlock,
// force-new-cluster, worker join) fails at once with an error naming the
// PID that holds it, and starts nothing; the first node is unharmed and
// serves; once it stops, the dir can be opened again.
func TestSecondOpenOfADataDirIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m1")
	cfg := daemon.DefaultConfig(dir)
	addr := freeAddr(t)
	cfg.Settings = node.Settings{Hostname: "m1", ListenAddr: addr, AdvertiseAddr: addr, GossipAddr: freeAddr(t)}
	cfg.NoAgent = true
	cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	first, err := daemon.InitManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	// The second one gets other ports: only the data dir is shared.
	other := cfg
	oaddr := freeAddr(t)
	other.Settings = node.Settings{Hostname: "m1bis", ListenAddr: oaddr, AdvertiseAddr: oaddr, GossipAddr: freeAddr(t)}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func() (*daemon.Daemon, error)
	}{
		{"manager run", func() (*daemon.Daemon, error) { return daemon.Open(other) }},
		{"manager init", func() (*daemon.Daemon, error) { return daemon.InitManager(other) }},
		{"manager init --force-new-cluster", func() (*daemon.Daemon, error) { return daemon.ForceNewCluster(other) }},
		{"manager join", func() (*daemon.Daemon, error) { return daemon.JoinManager(ctx, other, "SWMTKN-1-x-y", addr) }},
		{"worker join", func() (*daemon.Daemon, error) { return daemon.JoinWorker(ctx, other, "SWMTKN-1-x-y", addr) }},
		{"worker run", func() (*daemon.Daemon, error) { return daemon.Open(other) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.open()
			if err == nil {
				d.Close()
				t.Fatal("a second node started on a data dir in use")
			}
			if !errors.Is(err, node.ErrDataDirInUse) {
				t.Fatalf("want the data dir in use error, got: %v", err)
			}
			if want := fmt.Sprintf("in use by process %d", os.Getpid()); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name the holder: want %q", err, want)
			}
			t.Log(err)
		})
	}

	// The refused opens released nothing: the first still holds the lock
	// and runs.
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(runCtx) }()
	sock := filepath.Join(dir, "swarm.sock") // the default API socket
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := cl.Get("http://shoal/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first node does not serve: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d, err := daemon.Open(other); !errors.Is(err, node.ErrDataDirInUse) {
		if d != nil {
			d.Close()
		}
		t.Fatalf("a running node's data dir opened again: %v", err)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("first node: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first node did not stop")
	}
	// Run released the lock.
	again, err := daemon.Open(cfg)
	if err != nil {
		t.Fatalf("reopening after the first stopped: %v", err)
	}
	again.Close()
}
