package dispatcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/transport"
)

// Limits of request bodies.
const (
	maxSessionRequest = 1 << 20
	maxStatusRequest  = 16 << 20
)

// PeerIdentity is the production Config.Identify: the identity of the
// verified client certificate of the request's TLS connection.
func PeerIdentity(r *http.Request) (ca.Identity, error) {
	if r.TLS == nil {
		return ca.Identity{}, ca.ErrNoPeerCertificate
	}
	return ca.PeerIdentity(*r.TLS)
}

// Handler returns the HTTP handler of the protocol. The manager mounts it
// on the cluster port's mux at protocol.PathPrefix ("/dispatcher/v1/"),
// without stripping the prefix. It serves on every manager: one that is
// not running the dispatcher answers 421 with the leader's address.
func (d *Dispatcher) Handler() http.Handler {
	mux := http.NewServeMux()
	p := protocol.PathPrefix + "nodes/{node}/"
	mux.HandleFunc("POST "+p+"session", d.auth(d.serveSession))
	mux.HandleFunc("POST "+p+"heartbeat", d.auth(d.serveHeartbeat))
	mux.HandleFunc("POST "+p+"status", d.auth(d.serveStatus))
	mux.HandleFunc("GET "+p+"tasks", d.auth(d.serveTasks))
	mux.HandleFunc("POST "+p+"logs/{subscription}", d.auth(d.servePublish))
	mux.HandleFunc("POST "+protocol.LogsSubscribePath, d.serveSubscribe)
	mux.HandleFunc(protocol.PathPrefix, func(w http.ResponseWriter, r *http.Request) {
		transport.WriteError(w, http.StatusNotFound, "no such dispatcher endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// auth admits a node acting for itself only.
func (d *Dispatcher) auth(fn func(http.ResponseWriter, *http.Request, ca.Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.cfg.Identify == nil {
			transport.WriteError(w, http.StatusInternalServerError, "dispatcher: no identify function configured")
			return
		}
		id, err := d.cfg.Identify(r)
		if err != nil {
			transport.WriteError(w, http.StatusUnauthorized, "a node certificate of this cluster is required: "+err.Error())
			return
		}
		if node := r.PathValue("node"); node != id.NodeID {
			transport.WriteError(w, http.StatusForbidden, fmt.Sprintf("node %s may not act for node %s", id.NodeID, node))
			return
		}
		fn(w, r, id)
	}
}

// notLeader answers a request this manager cannot serve: 421 with the
// leader's cluster address, or 503 while no leader is known.
func (d *Dispatcher) notLeader(w http.ResponseWriter) {
	id, addr := d.leaderAddr()
	if addr == "" {
		transport.WriteError(w, http.StatusServiceUnavailable, "no leader: an election is in progress; retry")
		return
	}
	transport.WriteJSON(w, http.StatusMisdirectedRequest, protocol.ErrorResponse{
		Message:    "this manager is not the leader: open the session with the leader",
		LeaderID:   id,
		LeaderAddr: addr,
	})
}

// leaderAddr returns the leader's ID and cluster address, if known.
func (d *Dispatcher) leaderAddr() (id, addr string) {
	if d.cfg.Leader != nil {
		id, addr = d.cfg.Leader()
	}
	if id != "" {
		_ = d.store.View(func(tx state.ReadTx) error {
			if n := tx.GetNode(id); n != nil && n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
				addr = n.ManagerStatus.Addr
			}
			return nil
		})
	}
	return id, addr
}

func decodeBody(r *http.Request, limit int64, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, limit)).Decode(v); err != nil {
		return fmt.Errorf("malformed request: %w", err)
	}
	return nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// serveSession serves a session stream until the node goes away or the
// dispatcher ends the session.
func (d *Dispatcher) serveSession(w http.ResponseWriter, r *http.Request, id ca.Identity) {
	var req protocol.SessionRequest
	if err := decodeBody(r, maxSessionRequest, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := d.currentLeadership()
	if t == nil {
		d.notLeader(w)
		return
	}
	s := newSession(id.NodeID, remoteHost(r), req)
	if err := t.registerSession(r.Context(), s); err != nil {
		switch {
		case errors.Is(err, errNodeNotFound):
			transport.WriteError(w, http.StatusForbidden, "node "+id.NodeID+": "+err.Error())
		case errors.Is(err, ErrNotLeader):
			d.notLeader(w)
		default:
			transport.WriteError(w, http.StatusServiceUnavailable, err.Error())
		}
		return
	}
	clientGone := true
	defer func() { t.unregister(s, clientGone) }()

	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // streams outlive any server timeout
	w.Header().Set("Content-Type", protocol.ContentTypeStream)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	write := func(msgs []protocol.Message) bool {
		if len(msgs) == 0 {
			return true
		}
		_ = rc.SetWriteDeadline(time.Now().Add(d.cfg.WriteTimeout))
		for i := range msgs {
			if err := enc.Encode(&msgs[i]); err != nil {
				return false
			}
		}
		if rc.Flush() != nil {
			return false
		}
		// An HTTP/2 stream is reset when its write deadline passes, even
		// with nothing to write: disarm it while the session is idle.
		_ = rc.SetWriteDeadline(time.Time{})
		return true
	}
	first := protocol.Message{Type: protocol.MessageSession, Session: &protocol.SessionInfo{ID: s.id, HeartbeatPeriod: t.heartbeatPeriod()}}
	if !write([]protocol.Message{first}) {
		return
	}
	var delay *time.Timer
	if d.cfg.AssignmentDelay > 0 {
		delay = time.NewTimer(time.Hour)
		delay.Stop()
		defer delay.Stop()
	}
	for {
		if !write(s.take()) {
			d.log.Info("session stream write failed", "node", s.nodeID, "session", s.id)
			return
		}
		select {
		case <-s.wake:
		case <-s.ended:
			clientGone = false
			d.log.Debug("session ended by the dispatcher", "node", s.nodeID, "session", s.id, "reason", s.reason())
			return
		case <-r.Context().Done():
			return
		}
		if delay != nil {
			delay.Reset(d.cfg.AssignmentDelay)
			select {
			case <-delay.C:
			case <-s.ended:
				clientGone = false
				return
			case <-r.Context().Done():
				return
			}
		}
	}
}

// serveHeartbeat records a heartbeat.
func (d *Dispatcher) serveHeartbeat(w http.ResponseWriter, r *http.Request, id ca.Identity) {
	var req protocol.HeartbeatRequest
	if err := decodeBody(r, maxSessionRequest, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := d.currentLeadership()
	if t == nil {
		d.notLeader(w)
		return
	}
	period, err := t.heartbeat(id.NodeID, req.SessionID, req.EngineError)
	if err != nil {
		sessionError(w, err)
		return
	}
	transport.WriteJSON(w, http.StatusOK, protocol.HeartbeatResponse{Period: period})
}

func sessionError(w http.ResponseWriter, err error) {
	if errors.Is(err, errWrongNode) {
		transport.WriteError(w, http.StatusForbidden, err.Error())
		return
	}
	transport.WriteError(w, http.StatusNotFound, err.Error())
}

// serveStatus takes a batch of task status reports and answers once they
// are written.
func (d *Dispatcher) serveStatus(w http.ResponseWriter, r *http.Request, id ca.Identity) {
	var req protocol.StatusRequest
	if err := decodeBody(r, maxStatusRequest, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := d.currentLeadership()
	if t == nil {
		d.notLeader(w)
		return
	}
	s := t.session(req.SessionID)
	switch {
	case s == nil:
		sessionError(w, errSessionNotFound)
		return
	case s.nodeID != id.NodeID:
		sessionError(w, errWrongNode)
		return
	}
	var refused error
	_ = d.store.View(func(tx state.ReadTx) error {
		for _, u := range req.Updates {
			if u.Status.State < model.TaskStateAccepted {
				refused = fmt.Errorf("task %s: an agent reports states from accepted on, not %v", u.TaskID, u.Status.State)
				return nil
			}
			if task := tx.GetTask(u.TaskID); task != nil && task.NodeID != id.NodeID {
				refused = fmt.Errorf("%w: task %s is not assigned to node %s", errWrongNode, u.TaskID, id.NodeID)
				return nil
			}
		}
		return nil
	})
	switch {
	case errors.Is(refused, errWrongNode):
		transport.WriteError(w, http.StatusForbidden, refused.Error())
		return
	case refused != nil:
		transport.WriteError(w, http.StatusBadRequest, refused.Error())
		return
	}
	if len(req.Updates) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	select {
	case err := <-t.batch.addTasks(id.NodeID, req.Updates):
		if errors.Is(err, ErrNotLeader) {
			d.notLeader(w)
			return
		}
		if err != nil {
			transport.WriteError(w, http.StatusServiceUnavailable, "writing the statuses failed: "+err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	}
}

// serveTasks answers the node's assigned tasks.
func (d *Dispatcher) serveTasks(w http.ResponseWriter, r *http.Request, id ca.Identity) {
	if d.currentLeadership() == nil {
		d.notLeader(w)
		return
	}
	out := protocol.TasksResponse{Tasks: []*model.Task{}}
	err := d.store.View(func(tx state.ReadTx) error {
		return tx.ForEachTask(state.ByNodeID(id.NodeID), func(t *model.Task) bool {
			if assigned(t) {
				out.Tasks = append(out.Tasks, t)
			}
			return true
		})
	})
	if err != nil {
		transport.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	transport.WriteJSON(w, http.StatusOK, out)
}
