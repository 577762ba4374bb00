package opts

import (
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

func TestParseKeyValue(t *testing.T) {
	for _, c := range []struct {
		in             string
		valueRequired  bool
		key, value, er string
	}{
		{in: "a=1", key: "a", value: "1"},
		{in: "a=b=c", key: "a", value: "b=c"},
		{in: "a=", key: "a"},
		{in: "ssd", key: "ssd"},
		{in: "ssd", valueRequired: true, er: "no value"},
		{in: "=1", er: "empty key"},
		{in: "", er: "empty key"},
		{in: "a b=1", er: "whitespace"},
	} {
		k, v, err := ParseKeyValue(c.in, c.valueRequired)
		if c.er != "" {
			if err == nil || !strings.Contains(err.Error(), c.er) || !strings.Contains(err.Error(), "KEY=VALUE") {
				t.Errorf("ParseKeyValue(%q) error %v, want one about %q", c.in, err, c.er)
			}
			continue
		}
		if err != nil || k != c.key || v != c.value {
			t.Errorf("ParseKeyValue(%q) = %q, %q, %v", c.in, k, v, err)
		}
	}
}

func TestEnv(t *testing.T) {
	env, err := ParseEnv([]string{"A=1", "B=two words", "A=3"})
	if err != nil || !reflect.DeepEqual(env, []string{"A=3", "B=two words"}) {
		t.Errorf("ParseEnv = %q, %v", env, err)
	}
	if _, err := ParseEnv([]string{"A"}); err == nil {
		t.Error("ParseEnv accepted a variable without a value")
	}
	base := []string{"A=1", "B=2"}
	if got := SetEnv(base, "C", "C=3"); !reflect.DeepEqual(got, []string{"A=1", "B=2", "C=3"}) {
		t.Errorf("SetEnv = %q", got)
	}
	if got := SetEnv(base, "A", "A=9"); !reflect.DeepEqual(got, []string{"A=9", "B=2"}) || base[0] != "A=1" {
		t.Errorf("SetEnv = %q, base %q", got, base)
	}
	if got := RemoveEnv(base, "A"); !reflect.DeepEqual(got, []string{"B=2"}) {
		t.Errorf("RemoveEnv = %q", got)
	}
}

func TestLabels(t *testing.T) {
	got, err := ParseLabels([]string{"zone=a", "ssd", "zone=b"})
	if err != nil || !reflect.DeepEqual(got, map[string]string{"zone": "b", "ssd": ""}) {
		t.Errorf("ParseLabels = %v, %v", got, err)
	}
	if got, err := ParseLabels(nil); got != nil || err != nil {
		t.Errorf("ParseLabels(nil) = %v, %v", got, err)
	}
}

func TestUnits(t *testing.T) {
	var c NanoCPUs
	for in, want := range map[string]NanoCPUs{"0.5": 5e8, "2": 2e9, "1.25": 125e7, "0.001": 1e6, "0": 0} {
		if err := c.Set(in); err != nil || c != want {
			t.Errorf("NanoCPUs.Set(%q) = %d, %v; want %d", in, c, err, want)
		}
	}
	for _, in := range []string{"", "-1", "abc", "0.0000000001", "1e30"} {
		if err := c.Set(in); err == nil {
			t.Errorf("NanoCPUs.Set(%q) accepted", in)
		}
	}
	c = 15e8
	if c.String() != "1.500" {
		t.Errorf("NanoCPUs.String = %q", c.String())
	}
	var m MemBytes
	for in, want := range map[string]MemBytes{"64M": 64 << 20, "1g": 1 << 30, "512": 512, "1.5GiB": 3 << 29} {
		if err := m.Set(in); err != nil || m != want {
			t.Errorf("MemBytes.Set(%q) = %d, %v; want %d", in, m, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-5M"} {
		if err := m.Set(in); err == nil {
			t.Errorf("MemBytes.Set(%q) accepted", in)
		}
	}
	var u Uint64
	if err := u.Set("-1"); err == nil || !strings.Contains(err.Error(), "0 or more") {
		t.Errorf("Uint64.Set(-1) = %v", err)
	}
	var r Ratio
	if err := r.Set("0.25"); err != nil || r != 0.25 {
		t.Errorf("Ratio.Set = %v, %v", r, err)
	}
	for _, in := range []string{"1.5", "-0.1", "x", "NaN"} {
		if err := r.Set(in); err == nil {
			t.Errorf("Ratio.Set(%q) accepted", in)
		}
	}
}

func TestParsePort(t *testing.T) {
	host := swarm.PortConfigPublishModeHost
	for in, want := range map[string]swarm.PortConfig{
		"published=8080,target=80":              {Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: host},
		"published=8080,target=80,mode=host":    {Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: host},
		"target=53,published=5353,protocol=udp": {Protocol: "udp", TargetPort: 53, PublishedPort: 5353, PublishMode: host},
		"published=8080,target=80,mode=ingress": {Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeIngress},
		"target=80":                             {Protocol: "tcp", TargetPort: 80, PublishMode: host},
		"8080:80":                               {Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: host},
		"5353:53/udp":                           {Protocol: "udp", TargetPort: 53, PublishedPort: 5353, PublishMode: host},
		"80":                                    {Protocol: "tcp", TargetPort: 80, PublishMode: host},
		"PUBLISHED=8080,Target=80,MODE=HOST,protocol=SCTP": {Protocol: "sctp", TargetPort: 80, PublishedPort: 8080, PublishMode: host},
	} {
		got, err := ParsePort(in)
		if err != nil || got != want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"published=8080":                  "no target",
		"published=x,target=80":           "not a port number",
		"published=8080,target=70000":     "not a port number",
		"published=8080,target=80,mode=x": "want host or ingress",
		"published=1,target=2,proto=udp":  "unknown key",
		"published=1,target=2,target=3":   "twice",
		"published=1,target=2,bogus":      "not KEY=VALUE",
		"8080:80/icmp":                    "want tcp, udp or sctp",
		"a:b":                             "not a port number",
	} {
		if _, err := ParsePort(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParsePort(%q) error %v, want one saying %q", in, err, msg)
		}
	}
	for in, want := range map[string]string{"8080": "8080/tcp", "53/udp": "53/udp", "published=8080,target=80": "8080/tcp", "9000:90": "9000/tcp"} {
		if got, err := ParsePortKey(in); err != nil || got != want {
			t.Errorf("ParsePortKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePortKey("x/tcp"); err == nil {
		t.Error("ParsePortKey accepted a bad port")
	}
}

func TestParseMount(t *testing.T) {
	for in, want := range map[string]mount.Mount{
		"type=bind,source=/srv/data,target=/data,readonly": {Type: "bind", Source: "/srv/data", Target: "/data", ReadOnly: true},
		"type=volume,src=vol1,dst=/var/lib/data":           {Type: "volume", Source: "vol1", Target: "/var/lib/data"},
		"target=/cache":                                    {Type: "volume", Target: "/cache"},
		"type=tmpfs,destination=/scratch,ro=false":         {Type: "tmpfs", Target: "/scratch"},
		"type=bind,source=/a,target=/b,ro=1":               {Type: "bind", Source: "/a", Target: "/b", ReadOnly: true},
	} {
		got, err := ParseMount(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseMount(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"type=bind,target=/b":                          "needs a source",
		"type=tmpfs,source=x,target=/b":                "takes no source",
		"type=npipe,target=/b":                         "want bind, volume or tmpfs",
		"source=/a":                                    "no target",
		"type=tmpfs,target=/s,tmpfs-size=64m":          "unknown key",
		"type=bind,source=/a,target=/b,readonly=maybe": "want true or false",
		"type,target=/b":                               "needs a value",
	} {
		if _, err := ParseMount(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseMount(%q) error %v, want one saying %q", in, err, msg)
		}
	}
}

func TestPlacement(t *testing.T) {
	p, err := ParsePlacementPref("spread=node.labels.zone")
	if err != nil || p.Spread == nil || p.Spread.SpreadDescriptor != "node.labels.zone" || PlacementPrefString(p) != "spread=node.labels.zone" {
		t.Errorf("ParsePlacementPref = %+v, %v", p, err)
	}
	for _, in := range []string{"spread", "spread=", "pack=node.labels.zone"} {
		if _, err := ParsePlacementPref(in); err == nil {
			t.Errorf("ParsePlacementPref(%q) accepted", in)
		}
	}
	for _, ok := range []string{"node.role==worker", "node.labels.zone!=b", "engine.labels.os == linux"} {
		if err := CheckConstraint(ok); err != nil {
			t.Errorf("CheckConstraint(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"node.role=worker", "==worker", "node.role!=", ""} {
		if err := CheckConstraint(bad); err == nil {
			t.Errorf("CheckConstraint(%q) accepted", bad)
		}
	}
}

func TestParseFilters(t *testing.T) {
	f, err := ParseFilters([]string{"desired-state=running", "Node=node-1", "node=node-2"})
	if err != nil || !f.ExactMatch("desired-state", "running") || len(f.Get("node")) != 2 {
		t.Errorf("ParseFilters = %v, %v", f, err)
	}
	if _, err := ParseFilters([]string{"running"}); err == nil {
		t.Error("ParseFilters accepted a filter without =")
	}
}
