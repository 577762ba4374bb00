package dockerexec

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/model"
)

// frozenEngine is a unix socket that accepts connections and never answers,
// as a dockerd stopped with SIGSTOP or deadlocked does.
func frozenEngine(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "frozen.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return sock
}

// TestFrozenEngineCallsEndInTimeAndLeaveNothingBehind: every short call to
// an engine that accepts and never answers fails within the call timeout
// with a temporary ErrEngineTimeout (so the node reports its engine
// unavailable and the task is retried, not failed), and many such calls
// leave no goroutine behind.
func TestFrozenEngineCallsEndInTimeAndLeaveNothingBehind(t *testing.T) {
	sock := frozenEngine(t)
	// A fixed API version: negotiation would be one more call that hangs.
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const timeout = 200 * time.Millisecond
	e, err := New(cli, "node-1", WithCallTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	task := &model.Task{ID: "task-1", ServiceID: "svc-1", ServiceName: "web", NodeID: "node-1", Slot: 1,
		Spec: model.TaskSpec{Container: model.ContainerSpec{Image: "shoal/demoapp:test"}}}
	ctlr, err := e.Controller(task)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"describe", func() error { _, err := e.Describe(ctx); return err }},
		{"containers", func() error { _, err := e.Containers(ctx); return err }},
		{"remove container", func() error { return e.RemoveContainer(ctx, "abc") }},
		{"prepare", func() error { return ctlr.Prepare(ctx) }},
		{"start", func() error { return ctlr.Start(ctx) }},
		{"terminate", func() error { return ctlr.Terminate(ctx) }},
		{"logs", func() error { _, err := e.Logs(ctx, "abc", exec.LogsOptions{}); return err }},
	}
	before := runtime.NumGoroutine()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.call()
			took := time.Since(start)
			if !errors.Is(err, ErrEngineTimeout) || !exec.IsTemporary(err) {
				t.Fatalf("error %v: want a temporary ErrEngineTimeout", err)
			}
			if took > 20*timeout {
				t.Fatalf("returned after %v with a call timeout of %v", took, timeout)
			}
		})
	}
	// Many concurrent calls: all return, and their goroutines end.
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = e.Describe(ctx)
		}()
	}
	wg.Wait()
	cli.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after the calls, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
