package agent

import (
	"context"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// reporter sends task status changes to the manager in batches. A status
// stays queued until the manager acknowledges it (after its Raft write),
// across sessions: a report the old leader did not confirm goes to the
// next one. A newer status of a task replaces a queued older one.
type reporter struct {
	a *Agent

	mu      sync.Mutex
	pending map[string]model.TaskStatus
	kick    chan struct{}
}

func newReporter(a *Agent) *reporter {
	return &reporter{a: a, pending: map[string]model.TaskStatus{}, kick: make(chan struct{}, 1)}
}

func (r *reporter) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// report queues a task's status.
func (r *reporter) report(taskID string, st model.TaskStatus) {
	r.mu.Lock()
	if prev, ok := r.pending[taskID]; ok && st.State < prev.State {
		r.mu.Unlock()
		return
	}
	r.pending[taskID] = st
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) batch() []model.TaskStatusUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]model.TaskStatusUpdate, 0, len(r.pending))
	for id, st := range r.pending {
		out = append(out, model.TaskStatusUpdate{TaskID: id, Status: st})
	}
	return out
}

// ack forgets the statuses sent unless newer ones were queued since.
func (r *reporter) ack(sent []model.TaskStatusUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range sent {
		if cur, ok := r.pending[u.TaskID]; ok && reflect.DeepEqual(cur, u.Status) {
			delete(r.pending, u.TaskID)
		}
	}
}

// run sends batches on one session until ctx ends. One request is in
// flight at a time: what is queued meanwhile makes the next batch.
func (r *reporter) run(ctx context.Context, client *protocol.Client, sessionID string) {
	r.signal() // what the previous session left
	backoff := r.a.cfg.BackoffInitial
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		for {
			batch := r.batch()
			if len(batch) == 0 {
				break
			}
			err := client.ReportStatus(ctx, protocol.StatusRequest{SessionID: sessionID, Updates: batch})
			if ctx.Err() != nil {
				return
			}
			switch code := protocol.StatusCode(err); {
			case err == nil:
				r.ack(batch)
				backoff = r.a.cfg.BackoffInitial
				continue
			case code == http.StatusForbidden || code == http.StatusBadRequest:
				// The manager will never take these: not ours (any
				// more), or malformed. Retrying cannot help.
				r.a.log.Error("manager refused status reports; dropping them", "err", err, "reports", len(batch))
				r.ack(batch)
				continue
			case code == http.StatusNotFound || code == http.StatusMisdirectedRequest:
				// The session is gone; the next one sends the reports.
				return
			}
			r.a.log.Warn("sending status reports failed; retrying", "err", err, "reports", len(batch), "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, r.a.cfg.BackoffMax)
		}
	}
}
