package format_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/fixtures"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/format"
	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/golden"
)

func TestMain(m *testing.M) {
	// Absolute times are shown in time.Local.
	time.Local = time.UTC
	os.Exit(m.Run())
}

func taskContext() format.TaskContext {
	tc := format.TaskContext{ServiceNames: map[string]string{}, NodeNames: map[string]string{}, Now: fixtures.Now}
	for _, s := range fixtures.Services() {
		tc.ServiceNames[s.ID] = s.Spec.Name
	}
	for _, n := range fixtures.Nodes() {
		tc.NodeNames[n.ID] = n.Description.Hostname
	}
	return tc
}

func TestListings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		listing func(format.ListOptions) *format.Listing
	}{
		{"services", func(o format.ListOptions) *format.Listing { return format.Services(fixtures.Services(), o) }},
		{"tasks", func(o format.ListOptions) *format.Listing { return format.Tasks(fixtures.Tasks(), taskContext(), o) }},
		{"nodes", func(o format.ListOptions) *format.Listing {
			return format.Nodes(fixtures.Nodes(), fixtures.Manager1, o)
		}},
	} {
		for _, v := range []struct {
			suffix string
			opts   format.ListOptions
		}{
			{"", format.ListOptions{}},
			{"-no-trunc", format.ListOptions{NoTrunc: true}},
			{"-quiet", format.ListOptions{Quiet: true}},
			{"-json", format.ListOptions{Format: format.JSON}},
		} {
			t.Run(tc.name+v.suffix, func(t *testing.T) {
				var b bytes.Buffer
				if err := tc.listing(v.opts).Write(&b, v.opts); err != nil {
					t.Fatal(err)
				}
				golden.Assert(t, tc.name+v.suffix, b.Bytes())
			})
		}
	}
}

func TestEmptyListings(t *testing.T) {
	var b bytes.Buffer
	for _, l := range []*format.Listing{
		format.Services(nil, format.ListOptions{}),
		format.Tasks(nil, taskContext(), format.ListOptions{}),
		format.Nodes(nil, "", format.ListOptions{}),
	} {
		if err := l.Write(&b, format.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	golden.Assert(t, "empty", b.Bytes())
}

func TestPretty(t *testing.T) {
	services := map[string]swarm.Service{}
	for _, s := range fixtures.Services() {
		services[s.Spec.Name] = s
	}
	nodes := map[string]swarm.Node{}
	for _, n := range fixtures.Nodes() {
		nodes[n.Description.Hostname] = n
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"pretty-service-web":   func(b *bytes.Buffer) error { return format.PrettyService(b, services["web"]) },
		"pretty-service-batch": func(b *bytes.Buffer) error { return format.PrettyService(b, services["batch"]) },
		"pretty-service-agent": func(b *bytes.Buffer) error { return format.PrettyService(b, services["agent"]) },
		"pretty-node-manager":  func(b *bytes.Buffer) error { return format.PrettyNode(b, nodes["manager-1"]) },
		"pretty-node-down":     func(b *bytes.Buffer) error { return format.PrettyNode(b, nodes["manager-3"]) },
		"pretty-node-worker":   func(b *bytes.Buffer) error { return format.PrettyNode(b, nodes["worker-2"]) },
		"pretty-cluster":       func(b *bytes.Buffer) error { return format.PrettyCluster(b, fixtures.Swarm().ClusterInfo) },
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := write(&b); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, name, b.Bytes())
		})
	}
}

func TestDisplayImage(t *testing.T) {
	for in, want := range map[string]string{
		fixtures.Image: "nginx:1.27",
		"nginx:1.27":   "nginx:1.27",
		"nginx":        "nginx",
		"registry.example.com:5000/ops/agent:1@sha256:2222222222222222222222222222222222222222222222222222222222222222": "registry.example.com:5000/ops/agent:1",
		"worker@sha256:2222222222222222222222222222222222222222222222222222222222222222":                                "worker@sha256:2222222222222222222222222222222222222222222222222222222222222222",
		"Not A Reference": "Not A Reference",
	} {
		if got := format.DisplayImage(in); got != want {
			t.Errorf("DisplayImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNaturalLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"web.2", "web.10", true},
		{"web.10", "web.2", false},
		{"web.1", "web.1", false},
		{"worker-2", "worker-10", true},
		{"a", "b", true},
		{"web.1", "web.01", true},
		{"web", "web.1", true},
		{"web.1x", "web.1", false},
	} {
		if got := format.NaturalLess(c.a, c.b); got != c.less {
			t.Errorf("NaturalLess(%q, %q) = %v, want %v", c.a, c.b, got, c.less)
		}
	}
}

func TestHelpers(t *testing.T) {
	if got := format.ShortID(fixtures.Web, false); got != "websvc000000" {
		t.Errorf("ShortID = %q", got)
	}
	if got := format.ShortID(fixtures.Web, true); got != fixtures.Web {
		t.Errorf("ShortID no-trunc = %q", got)
	}
	if got := format.Ellipsis("abcdef", 4); got != "abc…" {
		t.Errorf("Ellipsis = %q", got)
	}
	if got := format.CPUs(15e8); got != "1.5" {
		t.Errorf("CPUs = %q", got)
	}
	if got := format.CPUs(2e9); got != "2" {
		t.Errorf("CPUs = %q", got)
	}
	if got := format.Ago(fixtures.Now.Add(-90*time.Second), fixtures.Now); got != "about a minute ago" {
		t.Errorf("Ago = %q", got)
	}
	if err := format.CheckFormat("yaml"); err == nil {
		t.Error("CheckFormat(yaml) accepted")
	}
}
