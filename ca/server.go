package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/state"
)

// Paths of the CA endpoints on the cluster port.
const (
	PathRoot   = "/ca/v1/root"
	PathJoin   = "/ca/v1/join"
	PathRenew  = "/ca/v1/renew"
	PathRejoin = "/ca/v1/rejoin"
)

// JoinRequest is what a joining node sends with its token.
type JoinRequest struct {
	Token string `json:"token"`
	// CSR is the PEM certificate request for the node's new key.
	CSR      string `json:"csr"`
	Hostname string `json:"hostname"`
	// Role is the role the node asks for; the token must grant it.
	Role state.NodeRole `json:"role"`
	// AdvertiseAddr is a joining manager's cluster address.
	AdvertiseAddr string `json:"advertise_addr,omitempty"`
	// GossipAddr is the node's gossip address.
	GossipAddr string `json:"gossip_addr,omitempty"`
	// Labels are the node's engine labels.
	Labels map[string]string `json:"labels,omitempty"`
}

// ManagerAddr names a manager and its cluster address.
type ManagerAddr struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// JoinResponse carries a joined node's identity.
type JoinResponse struct {
	NodeID    string         `json:"node_id"`
	ClusterID string         `json:"cluster_id"`
	Role      state.NodeRole `json:"role"`
	// Certificate is the PEM of the node's certificate.
	Certificate string `json:"certificate"`
	// RootCA is the PEM of the cluster's root certificate.
	RootCA   string        `json:"root_ca"`
	Managers []ManagerAddr `json:"managers"`
}

// RenewRequest asks for a new certificate for the caller's node.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RejoinRequest renews the certificate of a node that was offline past its
// certificate's expiry: the join token authorises it, the expired
// certificate names the node, and the CSR, made with the same key, proves
// the caller holds that certificate's key.
type RejoinRequest struct {
	Token       string `json:"token"`
	Certificate string `json:"certificate"`
	CSR         string `json:"csr"`
}

// RenewResponse carries a renewed certificate.
type RenewResponse struct {
	Certificate string         `json:"certificate"`
	Role        state.NodeRole `json:"role"`
}

// errorResponse is the body of a refused request.
type errorResponse struct {
	Message string `json:"message"`
}

// Backend gives the CA server linearizable reads and replicated writes.
// raft.Node satisfies it.
type Backend interface {
	ReadBarrier(ctx context.Context) error
	Propose(ctx context.Context, cmd *state.Command) (state.Results, error)
}

// Server serves the CA endpoints: the root certificate to anyone, node
// certificates to holders of a join token, renewals to nodes. Any manager
// can serve them: the root key is part of the replicated cluster object.
type Server struct {
	store   *state.Store
	backend Backend
	log     *slog.Logger
	now     func() time.Time
}

// NewServer returns a CA server over a manager's store.
func NewServer(store *state.Store, backend Backend, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{store: store, backend: backend, log: logger.With("component", "ca"), now: time.Now}
}

// Handler serves PathRoot, PathJoin and PathRenew.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathRoot, s.root)
	mux.HandleFunc("POST "+PathJoin, s.join)
	mux.HandleFunc("POST "+PathRenew, s.renew)
	mux.HandleFunc("POST "+PathRejoin, s.rejoin)
	return mux
}

func (s *Server) cluster() *state.Cluster {
	var c *state.Cluster
	_ = s.store.View(func(tx state.ReadTx) error { c = tx.Cluster(); return nil })
	return c
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	c := s.cluster()
	if c == nil {
		writeError(w, http.StatusServiceUnavailable, "this manager has no cluster state yet")
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

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := s.backend.ReadBarrier(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot join now: %v", err))
		return
	}
	c := s.cluster()
	if c == nil {
		writeError(w, http.StatusServiceUnavailable, "this manager has no cluster state yet")
		return
	}
	root, err := NewRootCA(c.RootCA.CACert, c.RootCA.CAKey)
	if err != nil {
		s.log.Error("loading the root CA", "err", err)
		writeError(w, http.StatusInternalServerError, "the cluster CA is unusable")
		return
	}
	role, err := CheckJoinToken(req.Token, root, c.RootCA.JoinTokens)
	if err != nil {
		s.log.Warn("refused join", "remote", r.RemoteAddr, "hostname", req.Hostname, "err", err)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if req.Role != "" && req.Role != role {
		s.log.Warn("refused join: token grants another role", "remote", r.RemoteAddr, "asked", req.Role, "granted", role)
		writeError(w, http.StatusForbidden, fmt.Sprintf("ca: this join token grants the %s role, not %s: use the %s join token", role, req.Role, req.Role))
		return
	}
	if role == state.RoleManager && req.AdvertiseAddr == "" {
		writeError(w, http.StatusBadRequest, "a joining manager must give its advertise address")
		return
	}
	nodeID := state.NewID()
	certPEM, err := root.IssueNodeCertificate([]byte(req.CSR), nodeID, role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
	if err != nil {
		s.log.Warn("refused join: bad CSR", "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	leaf, _ := parseCertPEM(certPEM)
	node := &state.Node{
		ID:   nodeID,
		Role: role,
		Spec: state.NodeSpec{DesiredRole: role, Availability: state.AvailabilityActive},
		Description: state.NodeDescription{
			Hostname: req.Hostname,
			Engine:   state.Engine{Labels: req.Labels},
		},
		Status:      state.NodeStatus{State: state.NodeStateUnknown, Addr: remoteHost(r)},
		Certificate: certInfo(leaf, role, certPEM),
	}
	if role == state.RoleManager {
		node.ManagerStatus = &state.ManagerStatus{Addr: req.AdvertiseAddr, GossipAddr: req.GossipAddr}
	}
	res, err := s.backend.Propose(ctx, state.NewCommand(state.Op{Type: state.OpCreateNode, Node: node}))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("recording the new node: %v", err))
		return
	}
	s.log.Info("node joined", "node", nodeID, "role", role, "hostname", req.Hostname, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, JoinResponse{
		NodeID:      nodeID,
		ClusterID:   c.ID,
		Role:        role,
		Certificate: string(certPEM),
		RootCA:      string(c.RootCA.CACert),
		Managers:    s.managers(),
	})
}

func (s *Server) managers() []ManagerAddr {
	var out []ManagerAddr
	_ = s.store.View(func(tx state.ReadTx) error {
		nodes, err := tx.FindNodes(state.ByRole(state.RoleManager))
		for _, n := range nodes {
			if n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
				out = append(out, ManagerAddr{ID: n.ID, Addr: n.ManagerStatus.Addr})
			}
		}
		return err
	})
	return out
}

func certInfo(leaf *x509.Certificate, role state.NodeRole, certPEM []byte) state.NodeCertificate {
	ci := state.NodeCertificate{Role: role, CertPEM: certPEM}
	if leaf != nil {
		ci.Serial = leaf.SerialNumber.Text(16)
		ci.NotAfter = leaf.NotAfter.UTC()
		ci.IssuedAt = leaf.NotBefore.UTC()
	}
	return ci
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		writeError(w, http.StatusUnauthorized, "renewal needs the node's certificate")
		return
	}
	id, err := PeerIdentity(*r.TLS)
	if err != nil {
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	var req RenewRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := s.backend.ReadBarrier(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot renew now: %v", err))
		return
	}
	for attempt := 0; ; attempt++ {
		var c *state.Cluster
		var n *state.Node
		_ = s.store.View(func(tx state.ReadTx) error {
			c, n = tx.Cluster(), tx.GetNode(id.NodeID)
			return nil
		})
		if c == nil || n == nil || id.ClusterID != c.ID {
			s.log.Warn("refused renewal of a removed node", "node", id.NodeID, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, fmt.Sprintf("node %s has been removed from the cluster", id.NodeID))
			return
		}
		root, err := NewRootCA(c.RootCA.CACert, c.RootCA.CAKey)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "the cluster CA is unusable")
			return
		}
		// The certificate carries the node's current role, so promotion
		// and demotion take effect at the next renewal.
		role := n.Role
		certPEM, err := root.IssueNodeCertificate([]byte(req.CSR), n.ID, role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		leaf, _ := parseCertPEM(certPEM)
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
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("recording the certificate: %v", err))
			return
		}
		s.log.Info("renewed node certificate", "node", n.ID, "role", role, "not_after", upd.Certificate.NotAfter)
		writeJSON(w, http.StatusOK, RenewResponse{Certificate: string(certPEM), Role: role})
		return
	}
}

// rejoin issues a new certificate to a node whose certificate expired
// while it was offline, so it is not bricked (a Swarm complaint): the node
// keeps its ID and role.
func (s *Server) rejoin(w http.ResponseWriter, r *http.Request) {
	var req RejoinRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := s.backend.ReadBarrier(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot rejoin now: %v", err))
		return
	}
	c := s.cluster()
	if c == nil {
		writeError(w, http.StatusServiceUnavailable, "this manager has no cluster state yet")
		return
	}
	root, err := NewRootCA(c.RootCA.CACert, c.RootCA.CAKey)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the cluster CA is unusable")
		return
	}
	refuse := func(code int, err error) {
		s.log.Warn("refused rejoin", "remote", r.RemoteAddr, "err", err)
		writeError(w, code, err.Error())
	}
	granted, err := CheckJoinToken(req.Token, root, c.RootCA.JoinTokens)
	if err != nil {
		refuse(http.StatusUnauthorized, err)
		return
	}
	old, err := parseCertPEM([]byte(req.Certificate))
	if err != nil {
		refuse(http.StatusBadRequest, err)
		return
	}
	// The certificate must be one this CA issued; only its age is forgiven.
	if err := old.CheckSignatureFrom(root.Cert()); err != nil {
		refuse(http.StatusUnauthorized, fmt.Errorf("ca: the certificate was not issued by this cluster: %w", err))
		return
	}
	id, err := ParseIdentity(old)
	if err != nil || id.ClusterID != c.ID {
		refuse(http.StatusUnauthorized, fmt.Errorf("ca: the certificate belongs to another cluster"))
		return
	}
	csr, err := ParseCSR([]byte(req.CSR))
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
		var n *state.Node
		_ = s.store.View(func(tx state.ReadTx) error { n = tx.GetNode(id.NodeID); return nil })
		if n == nil {
			refuse(http.StatusForbidden, fmt.Errorf("node %s is not a member of the cluster: join it anew", id.NodeID))
			return
		}
		if n.Role == state.RoleManager && granted != state.RoleManager {
			refuse(http.StatusForbidden, fmt.Errorf("ca: node %s is a manager: rejoin with the manager join token", id.NodeID))
			return
		}
		certPEM, err := root.IssueNodeCertificate([]byte(req.CSR), n.ID, n.Role, c.ID, c.Spec.CAConfig.NodeCertExpiry)
		if err != nil {
			refuse(http.StatusBadRequest, err)
			return
		}
		leaf, _ := parseCertPEM(certPEM)
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
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("recording the certificate: %v", err))
			return
		}
		s.log.Info("node rejoined with a token after its certificate expired", "node", n.ID, "role", n.Role, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, RenewResponse{Certificate: string(certPEM), Role: n.Role})
		return
	}
}

func publicKeysEqual(a, b any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

const maxRequestBody = 64 << 10

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("ca: malformed request: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorResponse{Message: msg})
}

func parseCertPEM(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemTypeCertificate {
		return nil, fmt.Errorf("ca: not a certificate PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}
