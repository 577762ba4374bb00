package scheduler

import (
	"testing"

	"github.com/shoal-dev/shoal/model"
)

func TestPipelineCountsEachNodeOnceInFilterOrder(t *testing.T) {
	task := mkTask("t", "web", reserve(1, 4*gib), constraints("node.labels.zone==a"))
	nodes := infos(
		// Drained and short of memory and off-zone: counted as not available.
		mkNode("drained", availability(model.AvailabilityDrain), resources(4, gib)),
		mkNode("down", status(model.NodeStateDown), labels("zone=a")),
		// Short of memory and of CPU: counted under memory, the first.
		mkNode("small", resources(0.5, 2*gib), labels("zone=a")),
		mkNode("small2", resources(4, 2*gib), labels("zone=b")),
		mkNode("nocpu", resources(0.5, 8*gib), labels("zone=a")),
		mkNode("zone-b", labels("zone=b")),
		mkNode("fits", labels("zone=a")),
	)
	p := NewPipeline()
	p.SetTask(task)
	var ok []string
	for _, n := range nodes {
		if p.Process(n) {
			ok = append(ok, n.Node().ID)
		}
	}
	if len(ok) != 1 || ok[0] != "fits" {
		t.Errorf("accepted %v, want [fits]", ok)
	}
	want := "2 nodes not available for new tasks; 2 nodes insufficient memory; 1 node insufficient cpu; " +
		"scheduling constraints not satisfied on 1 node"
	if got := p.Explain(); got != want {
		t.Errorf("Explain = %q\nwant       %q", got, want)
	}
	// SetTask starts counting afresh.
	p.SetTask(task)
	if got := p.Explain(); got != "" {
		t.Errorf("Explain after SetTask = %q", got)
	}
}

func TestPipelineCustomFilters(t *testing.T) {
	p := NewPipeline(&PlatformFilter{}, &ReadyFilter{})
	p.SetTask(mkTask("t", "web", platforms(model.Platform{OS: "windows"})))
	p.Process(NewNodeInfo(mkNode("a", status(model.NodeStateDown))))
	p.Process(NewNodeInfo(mkNode("b", platform("windows", "amd64"), status(model.NodeStateDown))))
	if got, want := p.Explain(), "unsupported platform on 1 node; 1 node not available for new tasks"; got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}

func TestNoSuitableNodeMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []*NodeInfo
		want  string
	}{
		{"no nodes", nil, "no suitable node"},
		{"docker's example", infos(
			mkNode("a", availability(model.AvailabilityPause)),
			mkNode("b", resources(4, gib)),
			mkNode("c", resources(4, gib)),
		), "no suitable node (1 node not available for new tasks; 2 nodes insufficient memory)"},
		{"singular", infos(mkNode("a", resources(4, gib))), "no suitable node (1 node insufficient memory)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := mustPlace(t, group("web", 3, reserve(0, 2*gib)), tc.nodes, Options{})
			for _, d := range ds {
				if d.Placed() || d.Err != tc.want {
					t.Errorf("%s: node %q, err %q; want %q", d.Task.ID, d.NodeID, d.Err, tc.want)
				}
			}
		})
	}
}
