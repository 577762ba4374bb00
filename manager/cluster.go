package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/ca/caserver"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
	"github.com/shoal-dev/shoal/transport"
)

// pathRaftJoin is where a joining manager asks to become a Raft voter.
const pathRaftJoin = "/manager/v1/raft-join"

type raftJoinRequest struct {
	ID         string `json:"id"`
	Addr       string `json:"addr"`
	GossipAddr string `json:"gossip_addr,omitempty"`
}

// clusterHandler routes the cluster port's HTTP requests.
func (m *Manager) clusterHandler() http.Handler {
	mux := http.NewServeMux()
	caSrv := caserver.NewServer(m.store, m.raft, m.log).Handler()
	mux.Handle("/ca/v1/", caSrv)
	mux.Handle(raft.PathPrefix, m.requireManager(m.raft.Handler()))
	mux.Handle("GET "+pathRaftStatus, m.requireManager(http.HandlerFunc(m.serveRaftStatus)))
	mux.Handle("POST "+pathRaftJoin, m.requireManager(http.HandlerFunc(m.serveRaftJoin)))
	mux.Handle("/dispatcher/v1/", m.disp.Handler())
	return mux
}

// requireManager admits callers holding a manager certificate of this
// cluster; the TLS layer already refused other clusters and removed nodes.
func (m *Manager) requireManager(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "TLS required", http.StatusUnauthorized)
			return
		}
		id, err := ca.PeerIdentity(*r.TLS)
		if err != nil {
			transport.WriteError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if id.Role != model.RoleManager {
			transport.WriteError(w, http.StatusForbidden, fmt.Sprintf("node %s holds a %s certificate: this endpoint is for managers", id.NodeID, id.Role))
			return
		}
		if err := m.checkStillManager(id.NodeID); err != nil {
			transport.WriteError(w, http.StatusForbidden, err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveRaftJoin adds the calling manager to the Raft configuration. A
// manager may only add itself.
func (m *Manager) serveRaftJoin(w http.ResponseWriter, r *http.Request) {
	id, _ := ca.PeerIdentity(*r.TLS)
	var req raftJoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, "malformed request: "+err.Error())
		return
	}
	if req.ID != id.NodeID || req.Addr == "" {
		transport.WriteError(w, http.StatusForbidden, "a manager may only add itself to Raft")
		return
	}
	if err := m.raft.ReadBarrier(r.Context()); err != nil {
		transport.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	var n *model.Node
	_ = m.store.View(func(tx state.ReadTx) error { n = tx.GetNode(req.ID); return nil })
	if n == nil || n.Role != model.RoleManager {
		transport.WriteError(w, http.StatusForbidden, fmt.Sprintf("node %s is not a manager of the cluster", req.ID))
		return
	}
	if err := m.raft.AddVoter(r.Context(), req.ID, req.Addr); err != nil {
		transport.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	m.log.Info("added manager to Raft", "manager", req.ID, "addr", req.Addr)
	if err := m.recordManagerAddr(r.Context(), req.ID, req.Addr, req.GossipAddr); err != nil {
		transport.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// joinRaft asks the managers this node knows to add it as a Raft voter,
// until one does.
func (m *Manager) joinRaft(ctx context.Context) {
	cfg, err := m.creds.ClientTLS()
	if err != nil {
		m.log.Error("joining Raft", "err", err)
		return
	}
	cl := newHTTPClient(cfg)
	body, _ := json.Marshal(raftJoinRequest{ID: m.st.NodeID, Addr: m.st.Settings.AdvertiseAddr, GossipAddr: m.st.Settings.GossipAddr})
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		m.stMu.Lock()
		targets := append([]string{m.st.JoinRaftVia}, m.st.Managers...)
		m.stMu.Unlock()
		target := targets[0]
		if len(targets) > 1 && backoff > time.Second {
			target = targets[rand.IntN(len(targets))]
		}
		if target == m.st.Settings.AdvertiseAddr {
			target = targets[0]
		}
		err := func() error {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(rctx, http.MethodPost, "https://"+target+pathRaftJoin, bytes.NewReader(body))
			if err != nil {
				return err
			}
			resp, err := cl.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
			}
			return nil
		}()
		if err == nil {
			m.stMu.Lock()
			m.st.JoinRaftVia = ""
			serr := m.st.Save(m.cfg.DataDir)
			m.stMu.Unlock()
			if serr != nil {
				m.log.Error("saving the node record", "err", serr)
			}
			m.log.Info("joined Raft", "via", target)
			return
		}
		m.log.Warn("asking to join Raft failed; retrying", "via", target, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// recordManagerAddr stores a manager's cluster address in its node, for a
// promoted worker whose node has none yet.
func (m *Manager) recordManagerAddr(ctx context.Context, id, addr, gossipAddr string) error {
	for attempt := 0; ; attempt++ {
		var n *model.Node
		_ = m.store.View(func(tx state.ReadTx) error { n = tx.GetNode(id); return nil })
		if n == nil {
			return fmt.Errorf("node %s not found", id)
		}
		if n.ManagerStatus != nil && n.ManagerStatus.Addr == addr && (gossipAddr == "" || n.ManagerStatus.GossipAddr == gossipAddr) {
			return nil
		}
		upd := n.Copy()
		if upd.ManagerStatus == nil {
			upd.ManagerStatus = &model.ManagerStatus{}
		}
		upd.ManagerStatus.Addr = addr
		if gossipAddr != "" {
			upd.ManagerStatus.GossipAddr = gossipAddr
		}
		res, err := m.raft.Propose(ctx, state.NewCommand(state.Op{Type: state.OpUpdateNode, Node: upd, Version: n.Version.Index}))
		if err == nil {
			err = res.Err()
		}
		if errors.Is(err, state.ErrSequence) && attempt < 5 {
			continue
		}
		return err
	}
}
