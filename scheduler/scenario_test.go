package scheduler

import (
	"testing"

	"github.com/shoal-dev/shoal/model"
)

// Scenarios of the placement core, played by the harness (harness_test.go)
// and compared with their transcripts.

func TestScenarioDrainAndReplace(t *testing.T) {
	h := newHarness(t,
		mkNode("a", labels("zone=a")),
		mkNode("b", labels("zone=b")),
		mkNode("c", labels("zone=c")),
	)
	h.place("web", 6, "")
	h.place("api", 4, "")
	h.setNode(mkNode("c", labels("zone=c"), availability(model.AvailabilityDrain)))
	// The orchestrator shuts web's tasks on c down and asks for two more.
	h.finish("web.3", "web.6")
	h.place("web", 2, "")
	h.expect(`
		web x6: a+2 b+2 c+2
		api x4: a+2 b+1 c+1
		node c ready drain
		finish web.3 web.6
		web x2: a+1 b+1
	`)
}

func TestScenarioExplanations(t *testing.T) {
	h := newHarness(t,
		mkNode("big", resources(8, 16*gib)),
		mkNode("small1", resources(2, 2*gib)),
		mkNode("small2", resources(2, 2*gib)),
		mkNode("paused", availability(model.AvailabilityPause)),
		mkNode("down", status(model.NodeStateDown)),
		mkNode("arm", platform("linux", "arm64")),
	)
	h.place("db", 3, "", reserve(2, 6*gib), platforms(model.Platform{OS: "linux", Architecture: "amd64"}))
	h.place("cache", 1, "", reserve(4, gib), constraints("node.hostname!=big"))
	h.finish("db.1")
	h.place("db", 1, "", reserve(2, 6*gib))
	h.place("lb", 3, "", hostPorts(443), constraints("node.platform.arch==amd64"))
	h.expect(`
		db x3: big+2 | 1 pending: no suitable node (2 nodes not available for new tasks; 3 nodes insufficient memory; unsupported platform on 1 node)
		cache x1: arm+1
		finish db.1
		db x1: big+1
		lb x3: big+1 small1+1 small2+1
	`)
}

func TestScenarioPortsAndMaxReplicas(t *testing.T) {
	h := newHarness(t, mkNode("a"), mkNode("b"), mkNode("c"))
	h.place("lb", 5, "", hostPorts(80))
	h.place("web", 7, "", maxReplicas(2))
	h.place("other", 2, "", hostPorts(80, 443))
	h.expect(`
		lb x5: a+1 b+1 c+1 | 2 pending: no suitable node (host-mode port already in use on 3 nodes)
		web x7: a+2 b+2 c+2 | 1 pending: no suitable node (max replicas per node limit exceed on 3 nodes)
		other x2: | 2 pending: no suitable node (host-mode port already in use on 3 nodes)
	`)
}

func TestScenarioFailingNode(t *testing.T) {
	h := newHarness(t, mkNode("a"), mkNode("b"), mkNode("c"))
	h.place("web", 3, "")
	h.finish("web.1")
	h.fail("a", "web", FailureThreshold)
	h.place("web", 1, "")
	h.place("web", 2, "")
	h.place("api", 1, "")
	h.advance(FailureWindow)
	h.place("web", 2, "")
	h.expect(`
		web x3: a+1 b+1 c+1
		finish web.1
		web failed 5 times on a
		web x1: b+1
		web x2: b+1 c+1
		api x1: a+1
		after 5m0s
		web x2: a+2
	`)
}

func TestScenarioGlobalService(t *testing.T) {
	h := newHarness(t,
		mkNode("a"),
		mkNode("b", availability(model.AvailabilityDrain)),
		mkNode("c", resources(1, 8*gib)),
		mkNode("d", role(model.RoleManager)),
	)
	h.global("agent", []string{"a", "b", "c", "d", "gone"}, reserve(2, gib), constraints("node.role==worker"))
	h.expect(`
		agent global: a+1 | 1 pending: no suitable node (1 node insufficient cpu) | 1 pending: no suitable node (1 node not available for new tasks) | 1 pending: no suitable node (node gone not found) | 1 pending: no suitable node (scheduling constraints not satisfied on 1 node)
	`)
}

func TestScenarioBinpackKeepsNodesEmpty(t *testing.T) {
	h := newHarness(t,
		mkNode("a", resources(4, 8*gib)),
		mkNode("b", resources(4, 8*gib)),
		mkNode("c", resources(16, 64*gib)),
	)
	h.place("batch", 6, model.StrategyBinpack, reserve(1, 2*gib))
	h.place("ml", 1, model.StrategyBinpack, reserve(12, 48*gib))
	h.place("batch", 3, model.StrategyBinpack, reserve(1, 2*gib))
	h.expect(`
		batch x6 binpack: a+4 b+2
		ml x1 binpack: c+1
		batch x3 binpack: b+2 c+1
	`)
}

func TestScenarioZones(t *testing.T) {
	h := newHarness(t,
		mkNode("a1", labels("zone=a", "rack=1")),
		mkNode("a2", labels("zone=a", "rack=2")),
		mkNode("b1", labels("zone=b", "rack=1")),
		mkNode("x", labels("rack=1")), // no zone
	)
	h.place("web", 1, "")
	h.place("web", 6, "", prefs("node.labels.zone"))
	h.setNode(mkNode("b1", labels("zone=b", "rack=1"), status(model.NodeStateDown)))
	h.place("web", 3, "", prefs("node.labels.zone", "node.labels.rack"))
	h.expect(`
		web x1: a1+1
		web x6: a2+1 b1+2 x+3
		node b1 down active
		web x3: a1+1 a2+1 x+1
	`)
}
