package lifecycle

import (
	"context"
	"errors"
	"testing"
)

func TestGuard(t *testing.T) {
	var g Guard
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()

	// A Run's context ends with its parent.
	ctx, end, err := g.Start(parent)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Running() {
		t.Fatal("not Running after Start")
	}
	if _, _, err := g.Start(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("overlapping Start: %v, want ErrRunning", err)
	}
	cancelParent()
	<-ctx.Done()
	end()

	// Stop ends the current Run and waits for it to return.
	ctx, end, err = g.Start(context.Background())
	if err != nil {
		t.Fatalf("Start after a Run ended: %v", err)
	}
	returned := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(returned)
		end()
	}()
	g.Stop()
	select {
	case <-returned:
	default:
		t.Fatal("Stop returned before the Run did")
	}
	if g.Running() {
		t.Fatal("Running after Stop")
	}
	g.Stop() // again: a no-op
	if _, _, err := g.Start(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop: %v, want ErrStopped", err)
	}
}
