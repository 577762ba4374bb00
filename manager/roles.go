package manager

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
)

// roleManager runs on the leader and reconciles each node's Role with its
// Spec.DesiredRole (set by `node promote`/`demote`) and the Raft
// configuration:
//
//   - promotion: Role becomes manager at once. The node notices it in its
//     session, renews its certificate (which now carries the manager role),
//     starts its manager components and asks to join Raft.
//   - demotion (a leader being demoted hands its leadership over and lets
//     the next leader do it): Role becomes worker while the node still
//     receives the log, the leader waits briefly for it to apply that,
//     then removes it from the Raft configuration, and ManagerStatus is
//     cleared. The node stops its manager components as soon as it
//     applies its demotion and renews into a worker certificate; its
//     manager certificate is refused for Raft meanwhile because the store
//     says it is a worker. With two managers the removal must commit
//     within the leader's lease after the node stops: see waitApplied.
//
// The API refuses demotions that would leave too few managers for a quorum.
type roleManager struct {
	m *Manager
	// warned is the manager count last warned about.
	warned int
}

func (r *roleManager) run(ctx context.Context) {
	w, err := r.m.store.ViewAndWatch(nil, state.WithFilter(func(e state.Event) bool {
		return e.Object.Kind() == model.KindNode
	}))
	if err != nil {
		return
	}
	defer w.Close()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.Ready():
			if _, err := w.Drain(); errors.Is(err, state.ErrResync) {
				w.Close()
				if w, err = r.m.store.ViewAndWatch(nil, state.WithFilter(func(e state.Event) bool {
					return e.Object.Kind() == model.KindNode
				})); err != nil {
					return
				}
			}
		case <-retry.C:
		}
		if !r.reconcile(ctx) {
			retry.Reset(500 * time.Millisecond)
		}
	}
}

// reconcile makes one pass and tells whether everything is in line.
func (r *roleManager) reconcile(ctx context.Context) bool {
	var nodes []*model.Node
	_ = r.m.store.View(func(tx state.ReadTx) error {
		var err error
		nodes, err = tx.FindNodes(state.All)
		return err
	})
	r.warnEven(nodes)
	done := true
	for _, n := range nodes {
		if n.Spec.DesiredRole == "" || (n.Spec.DesiredRole == n.Role && !r.stillVoter(n)) {
			continue
		}
		var err error
		switch n.Spec.DesiredRole {
		case model.RoleWorker:
			err = r.demote(ctx, n)
		case model.RoleManager:
			err = r.promote(ctx, n)
		}
		if err != nil {
			done = false
			if ctx.Err() == nil {
				r.m.log.Warn("role change pending", "node", n.ID, "desired", n.Spec.DesiredRole, "err", err)
			}
		}
	}
	return done
}

func (r *roleManager) promote(ctx context.Context, n *model.Node) error {
	upd := n.Copy()
	upd.Role = model.RoleManager
	if upd.ManagerStatus == nil {
		upd.ManagerStatus = &model.ManagerStatus{}
	}
	return r.write(ctx, upd, n.Version.Index)
}

func (r *roleManager) demote(ctx context.Context, n *model.Node) error {
	if n.ID == r.m.st.NodeID {
		// The next leader removes us from Raft.
		r.m.log.Info("this manager is being demoted: handing leadership over")
		return r.m.raft.TransferLeadership()
	}
	// First the node learns it is a worker, while it still receives the
	// log: it stops its manager components. Then it leaves the Raft
	// configuration, which commits without it.
	if n.Role == model.RoleManager {
		upd := n.Copy()
		upd.Role = model.RoleWorker
		if err := r.write(ctx, upd, n.Version.Index); err != nil {
			return err
		}
		// The index of the role write itself, which the node applies
		// before it stops: not the store's index, which later writes
		// move past and the stopped node never reaches.
		var written *model.Node
		_ = r.m.store.View(func(tx state.ReadTx) error { written = tx.GetNode(n.ID); return nil })
		if written != nil && n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
			r.waitApplied(ctx, n.ManagerStatus.Addr, written.Version.Index)
		}
	}
	r.m.log.Info("removing a demoted manager from Raft", "node", n.ID)
	if err := r.m.raft.RemoveServer(ctx, n.ID); err != nil && !errors.Is(err, raft.ErrUnknownOutcome) {
		return err
	}
	var cur *model.Node
	_ = r.m.store.View(func(tx state.ReadTx) error { cur = tx.GetNode(n.ID); return nil })
	if cur != nil && cur.ManagerStatus != nil {
		upd := cur.Copy()
		upd.ManagerStatus = nil
		if err := r.write(ctx, upd, cur.Version.Index); err != nil {
			return err
		}
	}
	r.m.log.Info("manager demoted", "node", n.ID)
	return nil
}

// waitApplied waits, for a few seconds at most, until the manager at addr
// has applied index idx, so that it sees its demotion before it is cut off
// from the log. It stops waiting as soon as that manager does not answer
// within 150 ms: it stops its manager components once it applies its
// demotion, and from then on, with two managers, this leader keeps its
// lease (500 ms) only if the Raft configuration drops the node in time.
// Waiting on (for the store's index, which the stopped node never
// reached, with 500 ms calls) let the lease run out, and the one manager
// left could never commit the removal (TestDemoteOneOfTwoManagers).
// Raft's last replication to a removed server carries the entries up to
// its removal anyway, the demotion among them.
func (r *roleManager) waitApplied(ctx context.Context, addr string, idx uint64) {
	tlsCfg, err := r.m.creds.ClientTLS()
	if err != nil {
		return
	}
	f := &raft.HTTPForwarder{Client: newHTTPClient(tlsCfg)}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		// Short: a node that stops its manager may leave the call
		// hanging, and this leader's lease runs meanwhile.
		pctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		st, err := f.Status(pctx, addr)
		cancel()
		if err != nil || st.Index >= idx {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *roleManager) write(ctx context.Context, n *model.Node, version uint64) error {
	res, err := r.m.raft.Propose(ctx, state.NewCommand(state.Op{Type: state.OpUpdateNode, Node: n, Version: version}))
	if err == nil {
		err = res.Err()
	}
	return err
}

// stillVoter tells whether a demoted node is still in the Raft
// configuration (its removal is the second step of a demotion).
func (r *roleManager) stillVoter(n *model.Node) bool {
	if n.Role != model.RoleWorker {
		return false
	}
	members, err := r.m.raft.Members()
	if err != nil {
		return false
	}
	for _, mem := range members {
		if mem.ID == n.ID {
			return true
		}
	}
	return false
}

// warnEven warns when the number of managers is even: an even number
// tolerates no more failures than the odd number below it, and a partition
// into halves leaves no side with a quorum.
func (r *roleManager) warnEven(nodes []*model.Node) {
	managers := 0
	for _, n := range nodes {
		if n.Role == model.RoleManager {
			managers++
		}
	}
	if managers%2 == 1 || managers == r.warned {
		return
	}
	r.warned = managers
	r.m.log.Warn("the cluster has an even number of managers: it tolerates no more failures than one manager fewer; run 1, 3 or 5 managers",
		"managers", managers, "tolerated_failures", (managers-1)/2)
}
