package raft

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
)

// A node whose disk refuses its log does not stand for election.
//
// hashicorp/raft steps a leader down when its log store fails a write
// (dispatchLogs), but nothing keeps it from winning the next election: its
// log is as up to date as any, since the entries it could not write were
// never sent. On a full disk it would win, fail its first entry (the
// leader's no-op), step down, and so on; each round costs a heartbeat
// timeout and an election, and a run of such rounds stalls every write of
// the cluster (seen in the robustness suite: no write acknowledged in the
// 4 s a leader's disk was full; TestLeaderOnFullDiskDoesNotLeadAgain
// reproduces it in process).
//
// diskHealth records whether the last write of the log store failed.
// electionGate, a wrapper of the Raft transport, refuses to send vote and
// pre-vote requests while it did: the node's candidacies gather no votes
// (pre-vote does not raise its term, so this costs the others nothing),
// and a healthy node wins. The mark clears on the next successful write of
// the log (a follower storing the new leader's entries), or, since a node
// that cannot lead may get no entries (a single manager, or every healthy
// peer down), on a probe: at most once per probeEvery, a candidacy first
// writes and syncs probeBytes in the data dir, and a success clears it.

// errDiskUnhealthy is why a vote request was not sent.
var errDiskUnhealthy = errors.New("raft: not standing for election: this node's disk failed its last log write")

const (
	probeEvery = time.Second
	// probeBytes is room for a batch of entries and bbolt's growth.
	probeBytes = 256 << 10
)

type diskHealth struct {
	dir        string
	probeEvery time.Duration
	failed     atomic.Bool

	mu        sync.Mutex
	lastProbe time.Time
}

func newDiskHealth(dir string) *diskHealth { return &diskHealth{dir: dir, probeEvery: probeEvery} }

// stored records the outcome of a write of the log store.
func (h *diskHealth) stored(err error) { h.failed.Store(err != nil) }

// canLead tells whether this node may stand for election: its last log
// write succeeded, or a probe of its disk does now.
func (h *diskHealth) canLead() bool {
	if !h.failed.Load() {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failed.Load() {
		return true
	}
	if time.Since(h.lastProbe) < h.probeEvery {
		return false
	}
	h.lastProbe = time.Now()
	if err := probeDisk(h.dir); err != nil {
		return false
	}
	h.failed.Store(false)
	return true
}

// probeDisk writes and syncs probeBytes in dir, then removes them.
func probeDisk(dir string) (err error) {
	path := filepath.Join(dir, "disk-probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		_ = os.Remove(path)
	}()
	if _, err := f.Write(make([]byte, probeBytes)); err != nil {
		return fmt.Errorf("disk probe: %w", err)
	}
	return f.Sync()
}

// electionGate passes every call on to the transport, except vote and
// pre-vote requests while the node's disk is unhealthy.
type electionGate struct {
	hraft.Transport
	health *diskHealth
}

func (g *electionGate) RequestVote(id hraft.ServerID, target hraft.ServerAddress, args *hraft.RequestVoteRequest, resp *hraft.RequestVoteResponse) error {
	if !g.health.canLead() {
		return errDiskUnhealthy
	}
	return g.Transport.RequestVote(id, target, args, resp)
}

// Close closes the transport if it can be closed (hraft.WithClose).
func (g *electionGate) Close() error {
	if c, ok := g.Transport.(hraft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// preVoteGate is an electionGate for a transport with pre-vote: Raft
// uses pre-vote only when its transport offers it, so the wrapper offers
// it only then.
type preVoteGate struct {
	*electionGate
	pre hraft.WithPreVote
}

func (g preVoteGate) RequestPreVote(id hraft.ServerID, target hraft.ServerAddress, args *hraft.RequestPreVoteRequest, resp *hraft.RequestPreVoteResponse) error {
	if !g.health.canLead() {
		return errDiskUnhealthy
	}
	return g.pre.RequestPreVote(id, target, args, resp)
}

// gateElections wraps trans with the election gate of health.
func gateElections(trans hraft.Transport, health *diskHealth) hraft.Transport {
	g := &electionGate{Transport: trans, health: health}
	if pre, ok := trans.(hraft.WithPreVote); ok {
		return preVoteGate{electionGate: g, pre: pre}
	}
	return g
}
