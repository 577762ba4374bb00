package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
)

func getNode(e *env, ref string) swarm.Node {
	e.t.Helper()
	var n swarm.Node
	e.must(http.StatusOK, "GET", "/v1.41/nodes/"+ref, nil, &n)
	return n
}

// updateNode sends a node update as the CLI does: the whole spec it read,
// with the version it read.
func updateNode(e *env, ref string, mod func(*swarm.NodeSpec)) response {
	e.t.Helper()
	n := getNode(e, ref)
	mod(&n.Spec)
	return e.do("POST", "/v1.41/nodes/"+n.ID+"/update?version="+itoa(n.Version.Index), n.Spec)
}

func TestListAndInspectNodes(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("wrk0000000000000000000001", "worker-1", func(n *model.Node) {
		n.Spec.Labels = map[string]string{"zone": "a"}
		n.Description.Engine.Labels = map[string]string{"ssd": "true"}
	})
	e.addWorker("wrk1000000000000000000002", "worker-2", func(n *model.Node) {
		n.Status.State = model.NodeStateDown
	})

	list := func(query string) string {
		t.Helper()
		var out []swarm.Node
		e.must(http.StatusOK, "GET", "/v1.41/nodes?"+query, nil, &out)
		var names []string
		for _, n := range out {
			names = append(names, n.Description.Hostname)
		}
		return strings.Join(sorted(names), ",")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "manager-1,worker-1,worker-2"},
		{filters("role", "manager"), "manager-1"},
		{filters("role", "worker"), "worker-1,worker-2"},
		{filters("name", "worker"), "worker-1,worker-2"},
		{filters("name", "WORKER-2"), "worker-2"},
		{filters("id", "wrk"), "worker-1,worker-2"},
		{filters("node.label", "zone=a"), "worker-1"},
		{filters("node.label", "zone=b"), ""},
		{filters("label", "ssd"), "worker-1"},
		{filters("membership", "accepted"), "manager-1,worker-1,worker-2"},
		{filters("membership", "pending"), ""},
	} {
		if got := list(tc.query); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{filters("role", "boss"), filters("membership", "maybe"), filters("colour", "red")} {
		if r := e.do("GET", "/nodes?"+q, nil); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}

	m := getNode(e, "manager-1")
	if m.ID != "node1" || m.ManagerStatus == nil || !m.ManagerStatus.Leader ||
		m.ManagerStatus.Reachability != swarm.ReachabilityReachable || m.ManagerStatus.Addr != "10.0.0.1:2377" ||
		m.Spec.Role != swarm.NodeRoleManager || m.Description.TLSInfo.TrustRoot == "" || m.Status.State != swarm.NodeStateReady {
		t.Errorf("manager %+v", m)
	}
	w := getNode(e, "wrk0000000000000000000001")
	if w.Description.Hostname != "worker-1" || w.ManagerStatus != nil || w.Spec.Labels["zone"] != "a" || w.Spec.Availability != swarm.NodeAvailabilityActive {
		t.Errorf("worker %+v", w)
	}
	for _, tc := range []struct {
		ref    string
		status int
		want   string
	}{
		{"node1", 200, "manager-1"},
		{"worker-2", 200, "worker-2"},
		{"wrk1000000000000000000002", 200, "worker-2"},
		{"wrk0", 200, "worker-1"},
		{"wrk", 400, "node wrk is ambiguous (2 matches found)"},
		{"nope", 404, "node nope not found"},
	} {
		r := e.do("GET", "/nodes/"+tc.ref, nil)
		if r.status != tc.status {
			t.Errorf("%s: %d %s", tc.ref, r.status, r.body)
			continue
		}
		if tc.status != 200 {
			if r.message() != tc.want {
				t.Errorf("%s: %q", tc.ref, r.message())
			}
			continue
		}
		var n swarm.Node
		r.decode(t, &n)
		if n.Description.Hostname != tc.want {
			t.Errorf("%s: %s", tc.ref, n.Description.Hostname)
		}
	}

	// Two nodes with one hostname: the hostname is ambiguous.
	e.addWorker("dup0000000000000000000001", "worker-1")
	if r := e.do("GET", "/nodes/worker-1", nil); r.status != http.StatusBadRequest || r.message() != "node worker-1 is ambiguous (2 matches found)" {
		t.Errorf("duplicate hostname: %d %s", r.status, r.body)
	}
}

func TestUpdateNode(t *testing.T) {
	e := newEnv(t, 1)
	e.addWorker("worker1", "worker-1")

	if r := updateNode(e, "worker-1", func(s *swarm.NodeSpec) { s.Availability = swarm.NodeAvailabilityDrain }); r.status != http.StatusOK {
		t.Fatalf("drain: %d %s", r.status, r.body)
	}
	if r := updateNode(e, "worker-1", func(s *swarm.NodeSpec) { s.Labels = map[string]string{"zone": "a"} }); r.status != http.StatusOK {
		t.Fatalf("label: %d %s", r.status, r.body)
	}
	n := e.node("worker1")
	if n.Spec.Availability != model.AvailabilityDrain || n.Spec.Labels["zone"] != "a" || n.Spec.DesiredRole != model.RoleWorker ||
		n.Description.Hostname != "worker-1" || n.Status.State != model.NodeStateReady {
		t.Errorf("after updates: %+v", n)
	}

	// A stale version.
	r := e.do("POST", "/nodes/worker1/update?version=1", getNode(e, "worker1").Spec)
	if r.status != http.StatusConflict || r.message() != "update out of sequence" {
		t.Errorf("stale: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/nodes/worker1/update", getNode(e, "worker1").Spec); r.status != http.StatusBadRequest ||
		!strings.Contains(r.message(), "invalid value for parameter version: \"\": want the node's version") {
		t.Errorf("no version: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/nodes/nope/update?version=1", getNode(e, "worker1").Spec); r.status != http.StatusNotFound {
		t.Errorf("missing node: %d %s", r.status, r.body)
	}

	// Promote, then demote before the promotion happened.
	if r := updateNode(e, "worker-1", func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleManager }); r.status != http.StatusOK {
		t.Fatalf("promote: %d %s", r.status, r.body)
	}
	if n := e.node("worker1"); n.Spec.DesiredRole != model.RoleManager || n.Role != model.RoleWorker {
		t.Errorf("after promote: desired %s role %s", n.Spec.DesiredRole, n.Role)
	}
	if got := getNode(e, "worker-1"); got.Spec.Role != swarm.NodeRoleManager || got.ManagerStatus != nil {
		t.Errorf("promotion pending: %+v %+v", got.Spec, got.ManagerStatus)
	}
	if r := updateNode(e, "worker-1", func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleWorker }); r.status != http.StatusOK {
		t.Fatalf("demote a pending promotion: %d %s", r.status, r.body)
	}

	// The last manager cannot be demoted.
	r = updateNode(e, "manager-1", func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleWorker })
	if r.status != http.StatusBadRequest || r.message() != "attempting to demote the last manager of the swarm" {
		t.Errorf("demote last manager: %d %s", r.status, r.body)
	}
	// Even when another promotion is pending.
	updateNode(e, "worker-1", func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleManager })
	r = updateNode(e, "manager-1", func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleWorker })
	if r.status != http.StatusBadRequest || r.message() != "attempting to demote the last manager of the swarm" {
		t.Errorf("demote last manager with a pending promotion: %d %s", r.status, r.body)
	}
	if n := e.node("node1"); n.Spec.DesiredRole != model.RoleManager {
		t.Errorf("the refused demotion was written: %+v", n.Spec)
	}
}

// TestDemoteQuorum demotes managers of a three-manager cluster: allowed
// while the two others are reachable, refused when only one of them is.
func TestDemoteQuorum(t *testing.T) {
	e := newEnv(t, 3)
	var other, third string
	for _, m := range e.c.Members {
		if m.ID != e.b.m.ID {
			if other == "" {
				other = m.ID
			} else {
				third = m.ID
			}
		}
	}
	for _, id := range []string{"node1", "node2", "node3"} {
		e.b.setReachability(id, model.ReachabilityReachable)
	}
	e.b.setReachability(third, model.ReachabilityUnreachable)
	r := updateNode(e, other, func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleWorker })
	if r.status != http.StatusBadRequest || !strings.HasPrefix(r.message(), "can't remove member from the raft: this would result in a loss of quorum") {
		t.Errorf("demote with a manager down: %d %s", r.status, r.body)
	}
	// Reachability shows in the node list.
	var nodes []swarm.Node
	e.must(http.StatusOK, "GET", "/nodes", nil, &nodes)
	for _, n := range nodes {
		want := swarm.ReachabilityReachable
		if n.ID == third {
			want = swarm.ReachabilityUnreachable
		}
		if n.ManagerStatus == nil || n.ManagerStatus.Reachability != want || n.ManagerStatus.Leader != (n.ID == e.b.m.ID) {
			t.Errorf("%s: %+v", n.ID, n.ManagerStatus)
		}
	}

	e.b.setReachability(third, model.ReachabilityReachable)
	if r := updateNode(e, other, func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleWorker }); r.status != http.StatusOK {
		t.Errorf("demote with all reachable: %d %s", r.status, r.body)
	}
	if n := e.node(other); n.Spec.DesiredRole != model.RoleWorker || n.Role != model.RoleManager {
		t.Errorf("after demote: %+v", n)
	}
}

func TestRemoveNode(t *testing.T) {
	e := newEnv(t, 3)
	e.addWorker("worker1", "worker-1")
	e.addWorker("worker2", "worker-2", func(n *model.Node) { n.Status.State = model.NodeStateDown })
	var other string
	for _, m := range e.c.Members {
		if m.ID != e.b.m.ID {
			other = m.ID
		}
	}

	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/nodes/" + other, 400, "node " + other + " is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal"},
		{"/nodes/" + other + "?force=1", 400, "must be demoted to worker before removal"},
		{"/nodes/worker-1", 400, "node worker1 is not down and can't be removed"},
		{"/nodes/nope", 404, "node nope not found"},
	} {
		if r := e.do("DELETE", tc.path, nil); r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
			t.Errorf("DELETE %s: %d %s", tc.path, r.status, r.body)
		}
	}
	e.must(http.StatusOK, "DELETE", "/v1.41/nodes/worker-2", nil, nil)
	e.must(http.StatusOK, "DELETE", "/v1.41/nodes/worker-1?force=true", nil, nil)
	var nodes []swarm.Node
	e.must(http.StatusOK, "GET", "/nodes", nil, &nodes)
	if len(nodes) != 3 {
		t.Errorf("%d nodes left", len(nodes))
	}
	if c := e.clusterObject(); !slices.ContainsFunc(c.RemovedNodes, func(r model.RemovedNode) bool { return r.ID == "worker1" }) {
		t.Errorf("removed nodes %+v", c.RemovedNodes)
	}

	// A demoted manager that is down and still in the Raft group is taken
	// out of it, then removed.
	e.b.setReachability(other, model.ReachabilityReachable)
	for _, m := range e.c.Members {
		e.b.setReachability(m.ID, model.ReachabilityReachable)
	}
	if r := updateNode(e, other, func(s *swarm.NodeSpec) { s.Role = swarm.NodeRoleWorker }); r.status != http.StatusOK {
		t.Fatalf("demote: %d %s", r.status, r.body)
	}
	e.propose(state.Op{Type: state.OpNodeStatus, NodeStatuses: []state.NodeStatusUpdate{{ID: other, Status: model.NodeStatus{State: model.NodeStateDown}}}})
	e.must(http.StatusOK, "DELETE", "/nodes/"+other, nil, nil)
	e.b.mu.Lock()
	removed := slices.Clone(e.b.removed)
	e.b.mu.Unlock()
	if !slices.Equal(removed, []string{other}) {
		t.Errorf("RemoveManager calls %v", removed)
	}
	members, err := e.b.m.Node.Members()
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(members, func(m raft.Member) bool { return m.ID == other }) {
		t.Errorf("%s still in the Raft group: %+v", other, members)
	}
}
