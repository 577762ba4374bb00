package api_test

import (
	"strings"
	"testing"
)

// TestDockerCLISwarmSurface runs the rest of the docker CLI's swarm
// commands that issue 17 lists against a manager: node ps, service ps
// filters, swarm update's options, unlock-key --rotate and info.
func TestDockerCLISwarmSurface(t *testing.T) {
	e, d := startDockerCLI(t)
	d.ok("service", "create", "-d", "--name", "web", "--replicas", "3", "nginx:1.27")
	waitRunning(t, e, "web", 3)

	out := d.ok("node", "ps", "node-2")
	wantContains(t, "node ps node-2", out, "web.", "node-2", "Running")
	if strings.Contains(out, "manager-1") {
		t.Errorf("node ps node-2 lists another node's tasks:\n%s", out)
	}
	out = d.ok("node", "ps")
	wantContains(t, "node ps (self)", out, "manager-1")
	out = d.ok("service", "ps", "--filter", "desired-state=running", "--filter", "node=node-2", "web")
	wantContains(t, "service ps --filter", out, "node-2")
	if strings.Contains(out, "manager-1") {
		t.Errorf("service ps --filter node=node-2:\n%s", out)
	}
	if out := d.ok("service", "ps", "--filter", "desired-state=shutdown", "-q", "web"); strings.TrimSpace(out) != "" {
		t.Errorf("service ps --filter desired-state=shutdown: %q", out)
	}
	out = d.ok("service", "ps", "--filter", "name=web.1", "web")
	wantContains(t, "service ps --filter name", out, "web.1")
	if strings.Contains(out, "web.2") {
		t.Errorf("service ps --filter name=web.1:\n%s", out)
	}

	d.ok("swarm", "update", "--task-history-limit", "3", "--dispatcher-heartbeat", "2s", "--cert-expiry", "48h")
	out = d.ok("system", "info")
	wantContains(t, "system info after swarm update", out, "Task History Retention Limit: 3", "Heartbeat Period: 2 seconds",
		"Expiry Duration: 2 days", "Autolock Managers: false", "Is Manager: true")
	out = d.ok("swarm", "update", "--autolock=true")
	wantContains(t, "autolock on", out, "SWMKEY-1-")
	key := e.clusterObject().UnlockKey
	out = d.ok("swarm", "unlock-key", "--rotate")
	wantContains(t, "unlock-key --rotate", out, "Successfully rotated manager unlock key.", "SWMKEY-1-")
	if now := e.clusterObject().UnlockKey; now == key || !strings.Contains(out, now) {
		t.Errorf("unlock key after rotation %q (was %q), printed:\n%s", now, key, out)
	}
	wantContains(t, "info with autolock", d.ok("info"), "Autolock Managers: true")
	d.ok("swarm", "update", "--autolock=false")
}
