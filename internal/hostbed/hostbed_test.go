package hostbed

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// probe connects from one host to a closed port of another with curl:
// "refused" means the other host answered (a TCP reset), "timeout" that
// nothing came back.
func probe(t *testing.T, from, to *Host) string {
	t.Helper()
	err := from.Command("curl", "-s", "--max-time", "1", "http://"+to.IP+":1/").Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 7:
		return "refused"
	case errors.As(err, &ee) && ee.ExitCode() == 28:
		return "timeout"
	}
	t.Fatalf("curl from %s to %s: unexpected result %v", from.Name, to.Name, err)
	return ""
}

func TestBedHostsReachEachOtherUntilPartitionedAndCloseRemovesAll(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not on PATH")
	}
	if err := Check(); err != nil {
		t.Skip(err)
	}
	b, err := Start(Config{Hosts: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = b.Close()
		}
	})
	h1, h2 := b.Hosts[0], b.Hosts[1]
	for _, h := range b.Hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := h.Docker.Info(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: docker info: %v", h.Name, err)
		}
		if info.DockerRootDir != filepath.Join(h.Dir, "d") {
			t.Errorf("%s: docker root %s, want its own under %s", h.Name, info.DockerRootDir, h.Dir)
		}
	}
	if got := probe(t, h1, h2); got != "refused" {
		t.Fatalf("h1 -> h2 before the partition: %s, want refused (reachable)", got)
	}
	if err := h2.Partition(); err != nil {
		t.Fatal(err)
	}
	if got := probe(t, h1, h2); got != "timeout" {
		t.Fatalf("h1 -> h2 while h2 is partitioned: %s, want timeout", got)
	}
	if err := h2.Heal(); err != nil {
		t.Fatal(err)
	}
	// A healed veth takes a moment to forward again (bridge port state).
	deadline := time.Now().Add(10 * time.Second)
	for probe(t, h1, h2) != "refused" {
		if time.Now().After(deadline) {
			t.Fatal("h1 cannot reach h2 after the heal")
		}
	}

	closed = true
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{b.Dir, "/sys/class/net/" + b.Bridge, "/sys/class/net/" + h1.Veth, h1.NetNSPath, h2.NetNSPath} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s still exists after Close", p)
		}
	}
	if err := exec.Command("iptables", "-C", "FORWARD", "-i", b.Bridge, "-o", b.Bridge, "-j", "ACCEPT").Run(); err == nil {
		t.Error("the FORWARD rule is still there after Close")
	}
	if err := exec.Command("kill", "-0", itoa(h1.DockerdPID())).Run(); err == nil {
		t.Error("h1's dockerd still runs after Close")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
