package convert

import (
	"testing"

	"github.com/docker/docker/api/types/network"

	"github.com/shoal-dev/shoal/model"
)

// TestNetworkAttachments: running tasks on the network are its
// containers (by container ID, named SERVICE.SLOT.TASK, with the MAC
// derived from the address) and their nodes its peers; tasks not running,
// without a container or on another network are not.
func TestNetworkAttachments(t *testing.T) {
	running := func(id, node string, slot uint64, ctr, netID, addr string) *model.Task {
		return &model.Task{ID: id, ServiceName: "web", Slot: slot, NodeID: node,
			Status:   model.TaskStatus{State: model.TaskStateRunning, Container: &model.ContainerStatus{ContainerID: ctr}},
			Networks: []model.NetworkAttachment{{NetworkID: netID, Addresses: []string{addr}}}}
	}
	starting := running("t3", "n1", 3, "c3", "net", "10.0.1.5/24")
	starting.Status.State = model.TaskStateStarting
	noCtr := running("t4", "n3", 4, "", "net", "10.0.1.6/24")
	noCtr.Status.Container = nil
	tasks := []*model.Task{
		running("t1", "n1", 1, "c1", "net", "10.0.1.3/24"),
		running("t2", "n2", 0, "c2", "net", "10.0.1.4/24"),
		running("t9", "n3", 9, "c9", "other", "10.0.2.3/24"),
		starting, noCtr,
	}
	nodes := map[string]*model.Node{
		"n1": {ID: "n1", Description: model.NodeDescription{Hostname: "h1"}, Status: model.NodeStatus{Addr: "192.0.2.1"}},
	}
	out := network.Inspect{ID: "net", Containers: map[string]network.EndpointResource{}}
	NetworkAttachments(&out, tasks, nodes)
	want := map[string]network.EndpointResource{
		"c1": {Name: "web.1.t1", EndpointID: "t1", MacAddress: "02:42:0a:00:01:03", IPv4Address: "10.0.1.3/24"},
		"c2": {Name: "web.n2.t2", EndpointID: "t2", MacAddress: "02:42:0a:00:01:04", IPv4Address: "10.0.1.4/24"},
	}
	if len(out.Containers) != len(want) {
		t.Fatalf("containers %+v", out.Containers)
	}
	for k, v := range want {
		if out.Containers[k] != v {
			t.Errorf("container %s: %+v, want %+v", k, out.Containers[k], v)
		}
	}
	if len(out.Peers) != 2 || out.Peers[0] != (network.PeerInfo{Name: "h1", IP: "192.0.2.1"}) || out.Peers[1] != (network.PeerInfo{Name: "n2"}) {
		t.Errorf("peers %+v", out.Peers)
	}
}
