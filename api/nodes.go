package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// nodeToDocker converts a node for a client, with what the store does not
// hold: whether it leads, and whether this manager reaches it. Only nodes
// that are managers now show a ManagerStatus.
func (s *Server) nodeToDocker(n *model.Node, rootCA []byte, leader string) swarm.Node {
	c := n.Copy()
	if c.Role == model.RoleManager {
		if c.ManagerStatus == nil {
			c.ManagerStatus = &model.ManagerStatus{}
		}
		c.ManagerStatus.Leader = n.ID == leader
		c.ManagerStatus.Reachability = s.backend.Reachability(n.ID)
	} else {
		c.ManagerStatus = nil
	}
	return convert.NodeToDocker(c, rootCA)
}

func rootCAOf(tx state.ReadTx) []byte {
	if c := tx.Cluster(); c != nil {
		return c.RootCA.CACert
	}
	return nil
}

// listNodes answers GET /nodes?filters=. Roles are matched against the
// role a node has now, memberships against "accepted": every node in the
// store was admitted with a join token.
func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r, "id", "name", "label", "node.label", "role", "membership")
	if err != nil {
		return err
	}
	roles := map[string]bool{}
	for _, v := range f.Get("role") {
		v = strings.ToLower(v)
		if v != string(model.RoleManager) && v != string(model.RoleWorker) {
			return filterError("role", v, "role=manager or role=worker")
		}
		roles[v] = true
	}
	memberships := map[string]bool{}
	for _, v := range f.Get("membership") {
		v = strings.ToLower(v)
		if v != "accepted" && v != "pending" {
			return filterError("membership", v, "membership=accepted or membership=pending")
		}
		memberships[v] = true
	}
	out := []swarm.Node{}
	leader := s.backend.LeaderID()
	err = s.view(r.Context(), func(tx state.ReadTx) error {
		nodes, err := tx.FindNodes(state.All)
		if err != nil {
			return err
		}
		root := rootCAOf(tx)
		for _, n := range nodes {
			if !matchPrefix(n.ID, f.Get("id")) || !matchPrefixFold(n.Description.Hostname, f.Get("name")) ||
				!matchLabels(n.Description.Engine.Labels, f.Get("label")) || !matchLabels(n.Spec.Labels, f.Get("node.label")) ||
				len(roles) > 0 && !roles[string(n.Role)] || len(memberships) > 0 && !memberships["accepted"] {
				continue
			}
			out = append(out, s.nodeToDocker(n, root, leader))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// inspectNode answers GET /nodes/{id}.
func (s *Server) inspectNode(w http.ResponseWriter, r *http.Request) error {
	var out swarm.Node
	leader := s.backend.LeaderID()
	err := s.view(r.Context(), func(tx state.ReadTx) error {
		n, err := findNode(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		out = s.nodeToDocker(n, rootCAOf(tx), leader)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// updateNode answers POST /nodes/{id}/update?version=: availability,
// labels, and the desired role (`docker node promote|demote`), which the
// managers then carry out (certificate and Raft membership). Like a
// service update, it reads the node without a read barrier when the local
// store has it at the client's version, except for a demotion.
func (s *Server) updateNode(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r, "node")
	if err != nil {
		return err
	}
	var in swarm.NodeSpec
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	spec, err := convert.NodeSpecFromDocker(in)
	if err != nil {
		return err
	}
	ref := r.PathValue("id")
	var n *model.Node
	err = s.viewForWrite(r.Context(), func(tx state.ReadTx) (bool, error) {
		stored, err := findNode(tx, ref)
		if err != nil {
			return false, err
		}
		// A demotion's quorum check reads the other managers, which the
		// version does not cover: it needs a linearizable read.
		demotion := desiredRole(stored) == model.RoleManager && spec.DesiredRole == model.RoleWorker
		if demotion {
			if err := s.checkDemotion(tx, stored); err != nil {
				return false, err
			}
		}
		// The FSM keeps the stored Status and Description, the fields that
		// change without a new version, so the copy may come from the
		// local store.
		n = stored.Copy()
		return stored.ID == ref && stored.Version.Index == version && !demotion, nil
	})
	if err != nil {
		return err
	}
	n.Spec = spec
	if err := s.propose(r.Context(), state.Op{Type: state.OpUpdateNode, Node: n, Version: version}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// desiredRole is the role a node is meant to have.
func desiredRole(n *model.Node) model.NodeRole {
	if n.Spec.DesiredRole == "" {
		return n.Role
	}
	return n.Spec.DesiredRole
}

// checkDemotion refuses, as SwarmKit does, to demote the last manager, and
// to take out of the Raft group a manager without which the remaining ones
// would not reach a quorum. A node whose promotion has not happened yet is
// not counted as a manager.
func (s *Server) checkDemotion(tx state.ReadTx, target *model.Node) error {
	nodes, err := tx.FindNodes(state.All)
	if err != nil {
		return err
	}
	// Quorum is counted over the Raft configuration: a manager the store
	// still lists but that is no longer a member (after --force-new-cluster,
	// or a demotion whose second step did not complete) neither counts nor
	// costs a quorum when it goes.
	staying, members, reachable := 0, 0, 0
	for _, n := range nodes {
		if n.ID == target.ID || n.Role != model.RoleManager {
			continue
		}
		if desiredRole(n) == model.RoleManager {
			staying++
		}
		switch s.backend.Reachability(n.ID) {
		case model.ReachabilityUnknown:
			continue
		case model.ReachabilityReachable:
			reachable++
		}
		members++
	}
	if staying == 0 {
		return badRequest("attempting to demote the last manager of the swarm")
	}
	isMember := s.backend.Reachability(target.ID) != model.ReachabilityUnknown
	if target.Role == model.RoleManager && isMember && reachable < members/2+1 {
		return badRequest("can't remove member from the raft: this would result in a loss of quorum (%d of the %d other managers reachable, %d needed)",
			reachable, members, members/2+1)
	}
	return nil
}

// removeNode answers DELETE /nodes/{id}?force=, with SwarmKit's rules: a
// manager must be demoted first, and a node that is up needs force. A
// demoted node that is still in the Raft group (its demotion did not
// complete, typically because it is down) is taken out of it first.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) error {
	force := looseBoolParam(r, "force")
	var n *model.Node
	if err := s.view(r.Context(), func(tx state.ReadTx) error {
		var err error
		n, err = findNode(tx, r.PathValue("id"))
		return err
	}); err != nil {
		return err
	}
	if desiredRole(n) == model.RoleManager {
		return badRequest("node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", n.ID)
	}
	if !force && n.Status.State == model.NodeStateReady {
		return badRequest("node %s is not down and can't be removed", n.ID)
	}
	if n.Role == model.RoleManager {
		if err := s.backend.RemoveManager(r.Context(), n.ID); err != nil {
			return fmt.Errorf("removing node %s from the Raft group: %w", n.ID, err)
		}
	}
	if err := s.propose(r.Context(), state.Op{Type: state.OpDeleteNode, ID: n.ID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
