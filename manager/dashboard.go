package manager

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dashboard"
	"github.com/shoal-dev/shoal/state"
	"github.com/shoal-dev/shoal/state/raft"
)

// pathRaftStatus is where a manager tells another its Raft state, for the
// dashboard's Raft view.
const pathRaftStatus = "/manager/v1/raft-status"

// serveRaftStatus answers with this manager's Raft state.
func (m *Manager) serveRaftStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m.raft.Stats())
}

// startDashboard serves the dashboard on the UIAddr setting, if set,
// until ctx ends: plain HTTP on loopback, HTTPS with the manager's
// certificate otherwise.
func (m *Manager) startDashboard(ctx context.Context) (*dashboard.Dashboard, error) {
	addr := m.st.Settings.UIAddr
	if addr == "" || addr == UIAddrOff {
		return nil, nil
	}
	cfg := dashboard.DefaultConfig()
	cfg.Addr = addr
	cfg.Logger = m.log
	if !dashboard.IsLoopback(cfg.Addr) {
		server, err := m.creds.ServerTLS(ca.WithLogger(m.log))
		if err != nil {
			return nil, err
		}
		// Browsers hold no client certificate: the server's only.
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: server.GetCertificate}
	}
	client, err := m.creds.ClientTLS()
	if err != nil {
		return nil, err
	}
	d, err := dashboard.New(&dashboardSource{m: m, client: newHTTPClient(client)}, cfg)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := d.Run(ctx); err != nil {
			m.log.Error("dashboard stopped", "err", err)
		}
	}()
	m.dashboard = d
	return d, nil
}

// DashboardURL is where this manager serves its dashboard; empty if it
// does not.
func (m *Manager) DashboardURL() string {
	if m.dashboard == nil {
		return ""
	}
	return m.dashboard.URL()
}

// dashboardSource is the manager as the dashboard reads it.
type dashboardSource struct {
	m      *Manager
	client *http.Client
}

var _ dashboard.Source = (*dashboardSource)(nil)

func (s *dashboardSource) Store() *state.Store { return s.m.store }

// RaftView asks every other manager of the Raft configuration for its
// Raft state, in parallel, within ctx.
func (s *dashboardSource) RaftView(ctx context.Context) dashboard.RaftView {
	r := s.m.raft
	self := r.Stats()
	v := dashboard.RaftView{Self: r.ID(), LeaderID: self.LeaderID, Term: self.Term, IsLeader: r.IsLeader(), StoreIndex: self.StoreIndex}
	if !v.IsLeader {
		v.LastContact = self.LastContact
	}
	members, err := r.Members()
	if err != nil {
		members = []raft.Member{{ID: r.ID(), Addr: r.Addr(), Voter: true}}
	}
	v.Members = make([]dashboard.RaftMember, len(members))
	var wg sync.WaitGroup
	for i, mb := range members {
		out := &v.Members[i]
		*out = dashboard.RaftMember{ID: mb.ID, Addr: mb.Addr, Voter: mb.Voter}
		if mb.ID == r.ID() {
			fillMember(out, self)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.peerStats(ctx, mb.Addr)
			if err != nil {
				out.Error = err.Error()
				return
			}
			fillMember(out, st)
		}()
	}
	wg.Wait()
	return v
}

func fillMember(out *dashboard.RaftMember, st raft.Stats) {
	out.Reachable = true
	out.State, out.Term, out.CommitIndex, out.AppliedIndex = st.State, st.Term, st.CommitIndex, st.StoreIndex
}

func (s *dashboardSource) peerStats(ctx context.Context, addr string) (raft.Stats, error) {
	var st raft.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+pathRaftStatus, nil)
	if err != nil {
		return st, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return st, errors.New("no answer in time")
		}
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // the URL is the member's address, shown already
		}
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&st); err != nil {
		return st, fmt.Errorf("reading the Raft state of %s: %w", addr, err)
	}
	return st, nil
}
