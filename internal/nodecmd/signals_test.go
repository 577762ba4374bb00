package nodecmd

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestCatchSignalsKeepsAnEarlySIGTERM: once CatchSignals ran, a SIGTERM
// cancels its context instead of killing the process (without it, this
// test binary would die), and every later call returns the same context.
func TestCatchSignalsKeepsAnEarlySIGTERM(t *testing.T) {
	ctx := CatchSignals()
	if err := ctx.Err(); err != nil {
		t.Fatalf("context done before any signal: %v", err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	if CatchSignals() != ctx {
		t.Error("a second call returned another context")
	}
}
