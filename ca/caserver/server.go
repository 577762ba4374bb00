package caserver

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/internal/ratelog"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/transport"
)

// Backend gives the CA server linearizable reads and replicated writes.
// raft.Node satisfies it.
type Backend interface {
	ReadBarrier(ctx context.Context) error
	state.Proposer
}

// Server serves the CA endpoints: the root certificate to anyone, node
// certificates to holders of a join token, renewals to nodes. Any manager
// can serve them: the root key is part of the replicated cluster object.
//
// A source (IP address) whose join, rejoin or renewal was refused for want
// of a valid token or certificate is answered 429 with a Retry-After until
// its backoff has passed (see BackoffConfig); refusals are logged through
// summaries, the first in full and then one line with a count per
// interval.
type Server struct {
	store   *state.Store
	backend Backend
	log     *slog.Logger
	now     func() time.Time

	backoff         *sourceBackoff
	refusedJoins    *ratelog.Summary
	refusedRenewals *ratelog.Summary
}

// NewServer returns a CA server over a manager's store, pacing refused
// sources with DefaultBackoffConfig.
func NewServer(store *state.Store, backend Backend, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{store: store, backend: backend, log: logger.With("component", "ca"), now: time.Now}
	// Through s.now, so that tests can set the clock after NewServer.
	now := func() time.Time { return s.now() }
	s.backoff = newSourceBackoff(DefaultBackoffConfig(), now)
	s.refusedJoins = ratelog.New(s.log, slog.LevelWarn, "refused joins", 0, now)
	s.refusedRenewals = ratelog.New(s.log, slog.LevelWarn, "refused renewals", 0, now)
	return s
}

// throttled answers 429 if src must still wait after a refusal, and
// reports whether it did. The attempt is not looked at, and does not
// lengthen the wait: a client that honours Retry-After gets its turn.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, sum *ratelog.Summary) bool {
	src := remoteHost(r)
	d := s.backoff.wait(src)
	if d <= 0 {
		return false
	}
	secs := int((d + time.Second - 1) / time.Second)
	sum.Add(src, "refused "+r.URL.Path+": the source must wait after refused attempts", "remote", r.RemoteAddr, "retry_after", fmt.Sprintf("%ds", secs))
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	transport.WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("ca: too many refused attempts from %s: retry in %ds", src, secs))
	return true
}

// refuse answers a refusal of the caller's token or certificate: it
// lengthens the source's backoff and counts it in sum.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, sum *ratelog.Summary, code int, msg string, args ...any) {
	src := remoteHost(r)
	wait := s.backoff.refused(src)
	sum.Add(src, "refused "+r.URL.Path, append([]any{"remote", r.RemoteAddr, "err", msg, "backoff", wait}, args...)...)
	transport.WriteError(w, code, msg)
}

// Handler serves ca.PathRoot, ca.PathJoin, ca.PathRenew and ca.PathRejoin.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ca.PathRoot, s.root)
	mux.HandleFunc("POST "+ca.PathJoin, s.join)
	mux.HandleFunc("POST "+ca.PathRenew, s.renew)
	mux.HandleFunc("POST "+ca.PathRejoin, s.rejoin)
	return mux
}

func (s *Server) cluster() *model.Cluster {
	var c *model.Cluster
	_ = s.store.View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
	return c
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	c := s.cluster()
	if c == nil {
		transport.WriteError(w, http.StatusServiceUnavailable, "this manager has no cluster state yet")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(c.RootCA.CACert)
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// clusterCA reads the cluster and its root CA after a read barrier, so a
// join or rejoin sees the current tokens and removed nodes; on failure it
// has answered the request and reports false.
func (s *Server) clusterCA(w http.ResponseWriter, r *http.Request, verb string) (*model.Cluster, *ca.RootCA, bool) {
	if err := s.backend.ReadBarrier(r.Context()); err != nil {
		transport.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot %s now: %v", verb, err))
		return nil, nil, false
	}
	c := s.cluster()
	if c == nil {
		transport.WriteError(w, http.StatusServiceUnavailable, "this manager has no cluster state yet")
		return nil, nil, false
	}
	root, err := ca.NewRootCA(c.RootCA.CACert, c.RootCA.CAKey)
	if err != nil {
		s.log.Error("loading the root CA", "err", err)
		transport.WriteError(w, http.StatusInternalServerError, "the cluster CA is unusable")
		return nil, nil, false
	}
	return c, root, true
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	if s.throttled(w, r, s.refusedJoins) {
		return
	}
	var req ca.JoinRequest
	if err := decode(r, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	c, root, ok := s.clusterCA(w, r, "join")
	if !ok {
		return
	}
	role, err := ca.CheckJoinToken(req.Token, root, c.RootCA.JoinTokens)
	if err != nil {
		s.refuse(w, r, s.refusedJoins, http.StatusUnauthorized, err.Error(), "hostname", req.Hostname)
		return
	}
	if req.Role != "" && req.Role != role {
		s.refuse(w, r, s.refusedJoins, http.StatusForbidden,
			fmt.Sprintf("ca: this join token grants the %s role, not %s: use the %s join token", role, req.Role, req.Role), "hostname", req.Hostname)
		return
	}
	if role == model.RoleManager && req.AdvertiseAddr == "" {
		transport.WriteError(w, http.StatusBadRequest, "a joining manager must give its advertise address")
		return
	}
	nodeID := model.NewID()
	certPEM, err := root.IssueNodeCertificate([]byte(req.CSR), nodeID, role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
	if err != nil {
		s.log.Warn("refused join: bad CSR", "remote", r.RemoteAddr, "err", err)
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	leaf, _ := ca.ParseCertificatePEM(certPEM)
	node := &model.Node{
		ID:   nodeID,
		Role: role,
		Spec: model.NodeSpec{DesiredRole: role, Availability: model.AvailabilityActive},
		Description: model.NodeDescription{
			Hostname: req.Hostname,
			Engine:   model.Engine{Labels: req.Labels},
		},
		Status:      model.NodeStatus{State: model.NodeStateUnknown, Addr: remoteHost(r)},
		Certificate: certInfo(leaf, role, certPEM),
	}
	if role == model.RoleManager {
		node.ManagerStatus = &model.ManagerStatus{Addr: req.AdvertiseAddr, GossipAddr: req.GossipAddr}
	}
	res, err := s.backend.Propose(ctx, state.NewCommand(state.Op{Type: state.OpCreateNode, Node: node}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		transport.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("recording the new node: %v", err))
		return
	}
	s.backoff.succeeded(remoteHost(r))
	s.log.Info("node joined", "node", nodeID, "role", role, "hostname", req.Hostname, "remote", r.RemoteAddr)
	transport.WriteJSON(w, http.StatusOK, ca.JoinResponse{
		NodeID:      nodeID,
		ClusterID:   c.ID,
		Role:        role,
		Certificate: string(certPEM),
		RootCA:      string(c.RootCA.CACert),
		Managers:    s.managers(),
	})
}

func (s *Server) managers() []ca.ManagerAddr {
	var out []ca.ManagerAddr
	_ = s.store.View(func(tx state.ReadTx) error {
		nodes, err := tx.FindNodes(state.ByRole(model.RoleManager))
		for _, n := range nodes {
			if n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
				out = append(out, ca.ManagerAddr{ID: n.ID, Addr: n.ManagerStatus.Addr})
			}
		}
		return err
	})
	return out
}

func certInfo(leaf *x509.Certificate, role model.NodeRole, certPEM []byte) model.NodeCertificate {
	ci := model.NodeCertificate{Role: role, CertPEM: certPEM}
	if leaf != nil {
		ci.Serial = leaf.SerialNumber.Text(16)
		ci.NotAfter = leaf.NotAfter.UTC()
		ci.IssuedAt = leaf.NotBefore.UTC()
	}
	return ci
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	if s.throttled(w, r, s.refusedRenewals) {
		return
	}
	if r.TLS == nil {
		s.refuse(w, r, s.refusedRenewals, http.StatusUnauthorized, "renewal needs the node's certificate")
		return
	}
	id, err := ca.PeerIdentity(*r.TLS)
	if err != nil {
		s.refuse(w, r, s.refusedRenewals, http.StatusUnauthorized, err.Error())
		return
	}
	var req ca.RenewRequest
	if err := decode(r, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := s.backend.ReadBarrier(ctx); err != nil {
		transport.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot renew now: %v", err))
		return
	}
	for attempt := 0; ; attempt++ {
		var c *model.Cluster
		var n *model.Node
		_ = s.store.View(func(tx state.ReadTx) error {
			c, n = tx.Cluster(), tx.GetNode(id.NodeID)
			return nil
		})
		if c == nil || n == nil || id.ClusterID != c.ID {
			s.refuse(w, r, s.refusedRenewals, http.StatusForbidden, fmt.Sprintf("node %s has been removed from the cluster", id.NodeID), "node", id.NodeID)
			return
		}
		root, err := ca.NewRootCA(c.RootCA.CACert, c.RootCA.CAKey)
		if err != nil {
			transport.WriteError(w, http.StatusInternalServerError, "the cluster CA is unusable")
			return
		}
		// The certificate carries the node's current role, so promotion
		// and demotion take effect at the next renewal.
		role := n.Role
		certPEM, err := root.IssueNodeCertificate([]byte(req.CSR), n.ID, role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
		if err != nil {
			transport.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		leaf, _ := ca.ParseCertificatePEM(certPEM)
		upd := n.Copy()
		upd.Certificate = certInfo(leaf, role, certPEM)
		res, err := s.backend.Propose(ctx, state.NewCommand(state.Op{Type: state.OpUpdateNode, Node: upd, Version: n.Version.Index}))
		if err == nil {
			err = res.Err()
		}
		if errors.Is(err, state.ErrSequence) && attempt < 5 {
			continue
		}
		if err != nil {
			transport.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("recording the certificate: %v", err))
			return
		}
		s.backoff.succeeded(remoteHost(r))
		s.log.Info("renewed node certificate", "node", n.ID, "role", role, "not_after", upd.Certificate.NotAfter)
		transport.WriteJSON(w, http.StatusOK, ca.RenewResponse{Certificate: string(certPEM), Role: role})
		return
	}
}

// rejoin issues a new certificate to a node whose certificate expired
// while it was offline, so it is not bricked (a Swarm complaint): the node
// keeps its ID and role.
func (s *Server) rejoin(w http.ResponseWriter, r *http.Request) {
	if s.throttled(w, r, s.refusedJoins) {
		return
	}
	var req ca.RejoinRequest
	if err := decode(r, &req); err != nil {
		transport.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	c, root, ok := s.clusterCA(w, r, "rejoin")
	if !ok {
		return
	}
	refuse := func(code int, err error) {
		if code == http.StatusBadRequest {
			// Malformed, not unauthorised: no backoff.
			s.refusedJoins.Add(remoteHost(r), "refused "+r.URL.Path, "remote", r.RemoteAddr, "err", err)
			transport.WriteError(w, code, err.Error())
			return
		}
		s.refuse(w, r, s.refusedJoins, code, err.Error())
	}
	granted, err := ca.CheckJoinToken(req.Token, root, c.RootCA.JoinTokens)
	if err != nil {
		refuse(http.StatusUnauthorized, err)
		return
	}
	old, err := ca.ParseCertificatePEM([]byte(req.Certificate))
	if err != nil {
		refuse(http.StatusBadRequest, err)
		return
	}
	// The certificate must be one this CA issued; only its age is forgiven.
	if err := old.CheckSignatureFrom(root.Cert()); err != nil {
		refuse(http.StatusUnauthorized, fmt.Errorf("ca: the certificate was not issued by this cluster: %w", err))
		return
	}
	id, err := ca.ParseIdentity(old)
	if err != nil || id.ClusterID != c.ID {
		refuse(http.StatusUnauthorized, fmt.Errorf("ca: the certificate belongs to another cluster"))
		return
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		refuse(http.StatusBadRequest, err)
		return
	}
	if !publicKeysEqual(csr.PublicKey, old.PublicKey) {
		refuse(http.StatusUnauthorized, fmt.Errorf("ca: the CSR is not signed with the certificate's key"))
		return
	}
	for _, rm := range c.RemovedNodes {
		if rm.ID == id.NodeID {
			refuse(http.StatusForbidden, fmt.Errorf("node %s has been removed from the cluster: join it anew", id.NodeID))
			return
		}
	}
	for attempt := 0; ; attempt++ {
		var n *model.Node
		_ = s.store.View(func(tx state.ReadTx) error { n = tx.GetNode(id.NodeID); return nil })
		if n == nil {
			refuse(http.StatusForbidden, fmt.Errorf("node %s is not a member of the cluster: join it anew", id.NodeID))
			return
		}
		if n.Role == model.RoleManager && granted != model.RoleManager {
			refuse(http.StatusForbidden, fmt.Errorf("ca: node %s is a manager: rejoin with the manager join token", id.NodeID))
			return
		}
		certPEM, err := root.IssueNodeCertificate([]byte(req.CSR), n.ID, n.Role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
		if err != nil {
			refuse(http.StatusBadRequest, err)
			return
		}
		leaf, _ := ca.ParseCertificatePEM(certPEM)
		upd := n.Copy()
		upd.Certificate = certInfo(leaf, n.Role, certPEM)
		res, err := s.backend.Propose(ctx, state.NewCommand(state.Op{Type: state.OpUpdateNode, Node: upd, Version: n.Version.Index}))
		if err == nil {
			err = res.Err()
		}
		if errors.Is(err, state.ErrSequence) && attempt < 5 {
			continue
		}
		if err != nil {
			transport.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("recording the certificate: %v", err))
			return
		}
		s.backoff.succeeded(remoteHost(r))
		s.log.Info("node rejoined with a token after its certificate expired", "node", n.ID, "role", n.Role, "remote", r.RemoteAddr)
		transport.WriteJSON(w, http.StatusOK, ca.RenewResponse{Certificate: string(certPEM), Role: n.Role})
		return
	}
}

func publicKeysEqual(a, b any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, ca.MaxMessageSize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("ca: malformed request: %w", err)
	}
	return nil
}
