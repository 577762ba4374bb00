package raft

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/transport"
)

// Paths of the forwarding RPCs, served on the cluster port.
const (
	PathPrefix     = "/raft/v1/"
	pathApply      = PathPrefix + "apply"
	pathReadIndex  = PathPrefix + "readindex"
	pathMembership = PathPrefix + "membership"
	pathPing       = PathPrefix + "ping"
)

// MaxCommandSize bounds a forwarded command.
const MaxCommandSize = 256 << 20

// rpcError is the JSON body of a failed RPC.
type rpcError struct {
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Reachable int    `json:"reachable,omitempty"`
	Total     int    `json:"total,omitempty"`
	Pending   bool   `json:"pending,omitempty"`
}

const (
	kindNotLeader = "not_leader"
	kindNoQuorum  = "no_quorum"
	kindUnknown   = "unknown_outcome"
	kindShutdown  = "shutdown"
	kindOther     = "error"
)

func encodeRPCError(err error) (int, rpcError) {
	var qe *QuorumError
	switch {
	case errors.Is(err, ErrNotLeader):
		return http.StatusMisdirectedRequest, rpcError{Kind: kindNotLeader, Message: err.Error()}
	case errors.As(err, &qe):
		return http.StatusServiceUnavailable, rpcError{Kind: kindNoQuorum, Message: err.Error(), Reachable: qe.Reachable, Total: qe.Total, Pending: qe.Pending}
	case errors.Is(err, ErrUnknownOutcome):
		return http.StatusServiceUnavailable, rpcError{Kind: kindUnknown, Message: err.Error()}
	case errors.Is(err, ErrShutdown):
		return http.StatusServiceUnavailable, rpcError{Kind: kindShutdown, Message: err.Error()}
	}
	return http.StatusInternalServerError, rpcError{Kind: kindOther, Message: err.Error()}
}

func (e rpcError) err() error {
	switch e.Kind {
	case kindNotLeader:
		return ErrNotLeader
	case kindNoQuorum:
		return &QuorumError{Reachable: e.Reachable, Total: e.Total, Pending: e.Pending}
	case kindUnknown:
		return ErrUnknownOutcome
	case kindShutdown:
		// The leader is going away; the request was refused before it
		// was applied, so another leader may take it.
		return fmt.Errorf("%w: leader shutting down", ErrNotSent)
	}
	return errors.New(e.Message)
}

// Handler serves the requests other managers forward to this one. The
// caller must mount it at PathPrefix behind authentication that admits
// managers only.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathApply, func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, MaxCommandSize+1))
		if err != nil || len(data) > MaxCommandSize {
			writeRPCError(w, fmt.Errorf("raft: reading command: too large or truncated"))
			return
		}
		res, err := n.ApplyLocal(r.Context(), data)
		if err != nil {
			writeRPCError(w, err)
			return
		}
		transport.WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST "+pathApplyBatch, n.serveApplyBatch)
	mux.HandleFunc("POST "+pathReadIndex, func(w http.ResponseWriter, r *http.Request) {
		idx, err := n.readIndexShared(r.Context())
		if err != nil {
			writeRPCError(w, err)
			return
		}
		transport.WriteJSON(w, http.StatusOK, map[string]uint64{"index": idx})
	})
	mux.HandleFunc("POST "+pathMembership, func(w http.ResponseWriter, r *http.Request) {
		var req MembershipChange
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.ID == "" || (!req.Remove && req.Addr == "") {
			transport.WriteJSON(w, http.StatusBadRequest, rpcError{Kind: kindOther, Message: "raft: bad membership change"})
			return
		}
		if err := n.ChangeMembershipLocal(r.Context(), req); err != nil {
			writeRPCError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+pathPing, func(w http.ResponseWriter, r *http.Request) {
		transport.WriteJSON(w, http.StatusOK, PingResponse{ID: n.cfg.NodeID, Index: n.store.Index()})
	})
	return mux
}

func writeRPCError(w http.ResponseWriter, err error) {
	code, body := encodeRPCError(err)
	transport.WriteJSON(w, code, body)
}

// HTTPForwarder forwards requests over HTTPS to the Handler of other
// managers. Client must present this manager's certificate.
type HTTPForwarder struct {
	Client *http.Client

	mu     sync.Mutex
	queues map[string]*applyQueue // writes waiting, per leader (batch.go)
}

var _ Forwarder = (*HTTPForwarder)(nil)

func (f *HTTPForwarder) do(ctx context.Context, addr, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		if notSent(err) {
			return fmt.Errorf("%w: %v", ErrNotSent, err)
		}
		return fmt.Errorf("%w: forwarding to %s: %v", errTransport, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e rpcError
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e); err != nil || e.Kind == "" {
			if resp.StatusCode == http.StatusNotFound {
				return fmt.Errorf("%w: forwarding to %s: status %s", errPathNotFound, addr, resp.Status)
			}
			return fmt.Errorf("forwarding to %s: status %s", addr, resp.Status)
		}
		return e.err()
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%w: forwarding to %s: decoding answer: %v", errTransport, addr, err)
	}
	return nil
}

// notSent tells whether an HTTP client error happened before the request
// could reach the server: dialling or the TLS handshake failed.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var rec tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &rec) || errors.As(err, &cv)
}

// errTransport marks a transport failure after the request was sent.
var errTransport = errors.New("raft: connection lost")

// Apply implements Forwarder. A connection lost after the command was
// sent leaves its outcome unknown. Writes forwarded at the same time share
// a request (batch.go).
func (f *HTTPForwarder) Apply(ctx context.Context, addr string, cmd []byte) (state.Results, error) {
	return f.applyBatched(ctx, addr, cmd)
}

// applyOne forwards one command in a request of its own.
func (f *HTTPForwarder) applyOne(ctx context.Context, addr string, cmd []byte) (state.Results, error) {
	var res state.Results
	err := f.do(ctx, addr, http.MethodPost, pathApply, cmd, &res)
	if errors.Is(err, errTransport) {
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	return res, err
}

// ReadIndex implements Forwarder.
func (f *HTTPForwarder) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	var out struct {
		Index uint64 `json:"index"`
	}
	err := f.do(ctx, addr, http.MethodPost, pathReadIndex, nil, &out)
	if errors.Is(err, errTransport) {
		// A read index has no effect: asking the next leader is safe.
		return 0, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return out.Index, err
}

// ChangeMembership implements Forwarder.
func (f *HTTPForwarder) ChangeMembership(ctx context.Context, addr string, req MembershipChange) error {
	body, _ := json.Marshal(req)
	err := f.do(ctx, addr, http.MethodPost, pathMembership, body, nil)
	if errors.Is(err, errTransport) {
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	return err
}

// PingResponse answers a ping: the manager's ID and its store index.
type PingResponse struct {
	ID    string `json:"id"`
	Index uint64 `json:"index"`
}

// Ping implements Forwarder.
func (f *HTTPForwarder) Ping(ctx context.Context, addr string) error {
	return f.do(ctx, addr, http.MethodGet, pathPing, nil, nil)
}

// Status asks the manager at addr for its ID and store index.
func (f *HTTPForwarder) Status(ctx context.Context, addr string) (PingResponse, error) {
	var out PingResponse
	err := f.do(ctx, addr, http.MethodGet, pathPing, nil, &out)
	return out, err
}
