package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// Agent is the node side of the swarm: it keeps a session with the leader,
// runs the tasks assigned to the node and reports their status. See the
// package documentation.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	nodeID   string
	managers *managerList
	reporter *reporter

	mu      sync.Mutex
	running bool
	workers map[string]*worker
	logs    map[string]*logStream // log subscriptions being served
	wg      sync.WaitGroup        // workers
	runCtx  context.Context

	engineMu      sync.Mutex
	engineErr     string
	desc          *model.NodeDescription
	engineChanged chan struct{}
	cleanupKick   chan struct{}
	// starts holds a token per Prepare or Start in flight
	// (Config.MaxConcurrentStarts).
	starts chan struct{}

	// node is what the cluster last said about this node.
	nodeMu sync.Mutex
	node   *protocol.NodeInfo

	// Sessions, for Status.
	sessMu     sync.Mutex
	sessReady  bool   // a session was opened since Run started
	sessErrMsg string // why the last attempt or session failed; "" while one is open

	// secrets and networks are the last sets the session sent: in memory
	// only, never written to disk (a secret's data must not outlive the
	// process, nor be found in the data dir).
	resMu    sync.Mutex
	secrets  *protocol.Secrets
	networks *protocol.NetworkView
}

// Secrets returns the secrets and configs the node's tasks reference, as
// the manager last sent them; nil before the first set. Do not modify it.
func (a *Agent) Secrets() *protocol.Secrets {
	a.resMu.Lock()
	defer a.resMu.Unlock()
	return a.secrets
}

// Networks returns the node's view of its networks, as the manager last
// sent it; nil before the first view. Do not modify it.
func (a *Agent) Networks() *protocol.NetworkView {
	a.resMu.Lock()
	defer a.resMu.Unlock()
	return a.networks
}

// New returns an agent. It reads the managers saved in DataDir and, unless
// Config.NodeID is set, the node ID from the certificate TLS returns.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nodeID := cfg.NodeID
	if nodeID == "" {
		var err error
		if nodeID, err = certificateNodeID(cfg.TLS); err != nil {
			return nil, err
		}
	}
	managers, err := loadManagers(cfg.DataDir, cfg.Managers)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:           cfg,
		log:           cfg.Logger.With("component", "agent", "node", nodeID),
		nodeID:        nodeID,
		managers:      managers,
		workers:       map[string]*worker{},
		logs:          map[string]*logStream{},
		engineChanged: make(chan struct{}, 1),
		cleanupKick:   make(chan struct{}, 1),
		starts:        make(chan struct{}, cfg.MaxConcurrentStarts),
	}
	a.reporter = newReporter(a)
	return a, nil
}

// certificateNodeID reads the node ID from the client certificate.
func certificateNodeID(tlsConfig func() (*tls.Config, error)) (string, error) {
	cfg, err := tlsConfig()
	if err != nil {
		return "", fmt.Errorf("agent: TLS configuration: %w", err)
	}
	if len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return "", errors.New("agent: the TLS configuration has no client certificate; set Config.NodeID")
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); err != nil {
			return "", fmt.Errorf("agent: parsing the node certificate: %w", err)
		}
	}
	id, err := ca.ParseIdentity(leaf)
	if err != nil {
		return "", fmt.Errorf("agent: node certificate: %w", err)
	}
	return id.NodeID, nil
}

// NodeID returns the node the agent acts for.
func (a *Agent) NodeID() string { return a.nodeID }

// Managers returns the manager addresses the agent knows, in the order it
// tries them.
func (a *Agent) Managers() []string { return a.managers.list() }

// Status is what the agent knows of the node's place in the swarm, for
// `docker info` on the node (api.WorkerStatus).
type Status struct {
	// Ready is set once a session was opened since Run started; it stays
	// set (Docker's node is "active" from then on).
	Ready bool
	// Error says why the last attempt to open a session, or the last
	// session, failed; empty while a session is open.
	Error string
	// Managers are the managers the last session named, with their node
	// IDs; before any session, the configured addresses, without IDs.
	Managers []protocol.Manager
}

// Status returns the agent's view of its sessions. It is safe for
// concurrent use and never blocks on the network.
func (a *Agent) Status() Status {
	a.sessMu.Lock()
	st := Status{Ready: a.sessReady, Error: a.sessErrMsg}
	a.sessMu.Unlock()
	st.Managers = a.managers.known()
	return st
}

// sessionChanged records that a session opened (err nil) or that an
// attempt or a session ended with err.
func (a *Agent) sessionChanged(err error) {
	a.sessMu.Lock()
	defer a.sessMu.Unlock()
	if err == nil {
		a.sessReady, a.sessErrMsg = true, ""
		return
	}
	a.sessErrMsg = ca.ExplainTLSError(err).Error()
}

// ErrRunning is returned by Run while another Run is in progress.
var ErrRunning = errors.New("agent: already running")

// Run keeps a session with the leader and runs the node's tasks until ctx
// ends. It then returns nil, leaving every container as it is: a new
// agent adopts them. It returns an error only for a misuse.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return ErrRunning
	}
	a.running = true
	a.runCtx = ctx
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	a.log.Info("agent starting", "managers", a.managers.list())
	a.describe(ctx)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); a.watchEngine(ctx) }()
	go func() { defer bg.Done(); a.cleanupLoop(ctx) }()

	backoff := a.cfg.BackoffInitial
	redirects, lastFailed, elections := 0, "", 0
	for ctx.Err() == nil {
		addr := a.managers.next()
		established, err := a.session(ctx, addr)
		if ctx.Err() != nil {
			break
		}
		a.sessionChanged(fmt.Errorf("no session with the manager at %s: %w", addr, err))
		// Follow a redirect, unless it points where the last attempt
		// failed: followers name the old leader until an election ends.
		if _, leader, ok := protocol.Leader(err); ok && leader != addr && leader != lastFailed && redirects < 3 {
			a.log.Debug("redirected to the leader", "from", addr, "to", leader)
			a.managers.redirectTo(leader)
			redirects++
			continue
		}
		redirects = 0
		// An election ends within seconds; answers saying one is under
		// way for longer (managers without quorum) get the full backoff.
		if electing(err) {
			elections++
		} else {
			elections = 0
		}
		election := elections > 0 && elections <= 20
		if established {
			backoff, lastFailed, elections = a.cfg.BackoffInitial, "", 0
		} else if !election {
			lastFailed = addr
		}
		wait := jitter(backoff)
		if election {
			// A live manager that knows no (live) leader yet: an
			// election is under way and ends within about a second. Ask
			// again soon rather than backing off for seconds.
			wait = jitter(2 * a.cfg.BackoffInitial)
		}
		a.log.Warn("no session with a manager; trying another", "manager", addr, "err", ca.ExplainTLSError(err), "retry_in", wait.Round(time.Millisecond))
		a.managers.advance()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if !established && !election {
			backoff = min(2*backoff, a.cfg.BackoffMax)
		}
	}

	a.wg.Wait()
	bg.Wait()
	a.log.Info("agent stopped; containers left running")
	return nil
}

// electing tells whether a manager answered that it knows no leader, or
// only one that cannot be reached: a 503, or a 421 not followed.
func electing(err error) bool {
	switch protocol.StatusCode(err) {
	case http.StatusServiceUnavailable, http.StatusMisdirectedRequest:
		return true
	}
	return false
}

// jitter spreads a wait by ±20 %.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(2*d/5)+1))
}

// ---------------------------------------------------------------------------
// Engine

// describe asks the executor to describe the node and records whether the
// engine answers.
func (a *Agent) describe(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	desc, err := a.cfg.Executor.Describe(dctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	a.engineMu.Lock()
	prev := a.engineErr
	if err != nil {
		a.engineErr = "container engine unavailable: " + err.Error()
	} else {
		a.engineErr = ""
		d := *desc
		if a.cfg.Hostname != "" {
			d.Hostname = a.cfg.Hostname
		}
		if len(a.cfg.Labels) > 0 {
			d.Engine.Labels = maps.Clone(d.Engine.Labels)
			if d.Engine.Labels == nil {
				d.Engine.Labels = map[string]string{}
			}
			maps.Copy(d.Engine.Labels, a.cfg.Labels)
		}
		a.desc = &d
	}
	now := a.engineErr
	a.engineMu.Unlock()
	if (prev == "") == (now == "") {
		return
	}
	if now != "" {
		a.log.Warn("container engine unavailable", "err", err)
	} else {
		a.log.Info("container engine available")
		a.requestCleanup()
	}
	select {
	case a.engineChanged <- struct{}{}:
	default:
	}
}

func (a *Agent) engineState() (*model.NodeDescription, string) {
	a.engineMu.Lock()
	defer a.engineMu.Unlock()
	return a.desc, a.engineErr
}

func (a *Agent) watchEngine(ctx context.Context) {
	t := time.NewTicker(a.cfg.EngineCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.describe(ctx)
		}
	}
}

// ---------------------------------------------------------------------------
// Assignments

// assign applies an assignments message: new tasks get a worker, changed
// ones are passed on, and tasks no longer assigned are removed.
func (a *Agent) assign(as *protocol.Assignments) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[string]bool, len(as.Tasks))
	for _, t := range as.Tasks {
		if t.NodeID != a.nodeID {
			continue
		}
		seen[t.ID] = true
		if w := a.workers[t.ID]; w != nil {
			w.update(t)
			continue
		}
		w := newWorker(a, t)
		a.workers[t.ID] = w
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.run(a.runCtx)
		}()
	}
	if as.Full {
		for id, w := range a.workers {
			if !seen[id] {
				w.unassign()
			}
		}
	}
	for _, id := range as.Removed {
		if w := a.workers[id]; w != nil {
			w.unassign()
		}
	}
}

// workerDone forgets a worker that returned.
func (a *Agent) workerDone(w *worker) {
	a.mu.Lock()
	if a.workers[w.id] == w {
		delete(a.workers, w.id)
	}
	a.mu.Unlock()
}

// tasks returns the node's tasks as the agent sees them.
func (a *Agent) tasks() []*model.Task {
	a.mu.Lock()
	ws := make([]*worker, 0, len(a.workers))
	for _, w := range a.workers {
		ws = append(ws, w)
	}
	a.mu.Unlock()
	out := make([]*model.Task, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.current())
	}
	return out
}

func (a *Agent) requestCleanup() {
	select {
	case a.cleanupKick <- struct{}{}:
	default:
	}
}

// cleanupLoop removes, after each full assignment set, the containers of
// this node whose tasks are no longer assigned to it.
func (a *Agent) cleanupLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cleanupKick:
		}
		backoff := a.cfg.BackoffInitial
		for {
			err := a.cleanup(ctx)
			if err == nil || ctx.Err() != nil {
				break
			}
			a.log.Warn("removing containers of unassigned tasks failed; retrying", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, a.cfg.BackoffMax)
		}
	}
}

func (a *Agent) cleanup(ctx context.Context) error {
	containers, err := a.cfg.Executor.Containers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	adopted := 0
	for _, c := range containers {
		a.mu.Lock()
		_, assigned := a.workers[c.TaskID]
		a.mu.Unlock()
		if assigned {
			adopted++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a.log.Info("removing the container of a task no longer assigned to this node",
				"container.id", c.ID, "task.id", c.TaskID, "container.name", c.Name)
			if err := a.cfg.Executor.RemoveContainer(ctx, c.ID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	a.log.Debug("containers checked against assignments", "containers", len(containers), "assigned", adopted)
	return errors.Join(errs...)
}
