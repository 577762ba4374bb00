package daemon

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestHostProbeTellsACutOffHostFromAStalledProcess: a listener whose
// process never reads (a paused node: the kernel still completes the
// handshake) is reachable; a closed port (the process is gone) and a
// connect that never completes (the host's link is down) are not.
func TestHostProbeTellsACutOffHostFromAStalledProcess(t *testing.T) {
	stalled, err := net.Listen("tcp", "127.0.0.1:0") // never accepts
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	blackhole := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done() // a SYN that nothing answers
		return nil, ctx.Err()
	}
	for _, tc := range []struct {
		name        string
		addr        string
		dial        func(ctx context.Context, network, addr string) (net.Conn, error)
		unreachable bool
	}{
		{"stalled process", stalled.Addr().String(), nil, false},
		{"process gone", closedAddr, nil, true},
		{"link down", "10.0.0.1:7946", blackhole, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newHostProbe()
			p.timeout = 100 * time.Millisecond
			if tc.dial != nil {
				p.dial = tc.dial
			}
			// The first call only starts a probe: no answer yet.
			if p.unreachable("n1", tc.addr) {
				t.Fatal("unreachable before any probe finished")
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				p.mu.Lock()
				done := !p.nodes["n1"].at.IsZero()
				p.mu.Unlock()
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the probe did not finish")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := p.unreachable("n1", tc.addr); got != tc.unreachable {
				t.Fatalf("unreachable = %v, want %v", got, tc.unreachable)
			}
			p.forget("n1")
			if p.unreachable("n1", tc.addr) {
				t.Fatal("a forgotten node is still unreachable before a new probe")
			}
		})
	}
}
