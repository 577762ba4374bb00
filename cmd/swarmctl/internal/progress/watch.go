package progress

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
)

// Source is what Watch reads from the manager; the Docker client is one.
// Its methods must be safe to call from the watching goroutine.
type Source interface {
	ServiceInspectWithRaw(ctx context.Context, serviceID string, opts swarm.ServiceInspectOptions) (swarm.Service, []byte, error)
	TaskList(ctx context.Context, opts swarm.TaskListOptions) ([]swarm.Task, error)
	NodeList(ctx context.Context, opts swarm.NodeListOptions) ([]swarm.Node, error)
}

// Defaults of Options.
const (
	// DefaultInterval is the poll period of the docker CLI: quick enough
	// to show every state a task passes through on a small cluster, and a
	// light load on the manager (three reads).
	DefaultInterval = 200 * time.Millisecond
	// DefaultMonitor is Docker's UpdateConfig.Monitor default, used when
	// the service has no update config.
	DefaultMonitor = 5 * time.Second
)

// Options configure Watch.
type Options struct {
	// Out receives the display.
	Out io.Writer
	// Terminal redraws the display in place with bars; otherwise a line
	// is printed per change.
	Terminal bool
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Interval is the poll period; 0 means DefaultInterval.
	Interval time.Duration
	// PsHint is the command that shows the service's tasks, printed when
	// the watch is interrupted ("swarmctl service ps web").
	PsHint string
}

// Watch shows the progress of service serviceID until it converged, an
// update or rollback paused (an error naming the manager's message), the
// service cannot be read (that error), or ctx is cancelled (nil, after a
// hint).
func Watch(ctx context.Context, src Source, serviceID string, o Options) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	scr := newScreen(o.Out, o.Terminal)
	interrupted := func() error {
		scr.message("Operation continuing in background.")
		if o.PsHint != "" {
			scr.message(fmt.Sprintf("Use `%s` to check progress.", o.PsHint))
		}
		return nil
	}
	failed := func(err error) error {
		if ctx.Err() != nil {
			return interrupted()
		}
		scr.flush()
		return err
	}

	var (
		upd         updater
		converged   bool
		convergedAt time.Time
		rollback    bool
		final       string
	)
	taskFilter := filters.NewArgs(filters.Arg("service", serviceID), filters.Arg("_up-to-date", "true"))
	for {
		svc, _, err := src.ServiceInspectWithRaw(ctx, serviceID, swarm.ServiceInspectOptions{})
		if err != nil {
			return failed(err)
		}
		monitor := DefaultMonitor
		if uc := svc.Spec.UpdateConfig; uc != nil && uc.Monitor != 0 {
			monitor = uc.Monitor
		}
		if upd == nil {
			if upd, err = newUpdater(svc.Spec.Mode); err != nil {
				return err
			}
		}
		if us := svc.UpdateStatus; us != nil {
			switch us.State {
			case swarm.UpdateStateUpdating:
				rollback = false
			case swarm.UpdateStateCompleted:
				if !converged {
					scr.flush()
					return nil
				}
			case swarm.UpdateStatePaused:
				scr.flush()
				return fmt.Errorf("service update paused: %s", us.Message)
			case swarm.UpdateStateRollbackStarted:
				if !rollback && us.Message != "" {
					scr.set("rollback", row{action: us.Message})
				}
				rollback = true
			case swarm.UpdateStateRollbackPaused:
				scr.flush()
				return fmt.Errorf("service rollback paused: %s", us.Message)
			case swarm.UpdateStateRollbackCompleted:
				if !converged {
					final = us.Message
				}
				rollback = true
			}
		}
		if converged && o.Now().Sub(convergedAt) >= monitor {
			scr.set("verify", row{action: "Service converged"})
			if final != "" {
				scr.set("rollback", row{action: final})
			}
			scr.flush()
			return nil
		}

		tasks, err := src.TaskList(ctx, swarm.TaskListOptions{Filters: taskFilter})
		if err != nil {
			return failed(err)
		}
		nodes, err := src.NodeList(ctx, swarm.NodeListOptions{})
		if err != nil {
			return failed(err)
		}
		c := cluster{active: map[string]bool{}, names: map[string]string{}}
		for _, n := range nodes {
			if n.Status.State != swarm.NodeStateDown {
				c.active[n.ID] = true
			}
			c.names[n.ID] = n.Description.Hostname
		}

		converged = upd.update(scr, svc, tasks, c, rollback)
		if converged && svc.JobStatus != nil {
			// A job stays done once done: nothing to verify.
			scr.set("verify", row{action: "job complete"})
			scr.flush()
			return nil
		}
		if converged {
			if convergedAt.IsZero() {
				convergedAt = o.Now()
			}
			if wait := monitor - o.Now().Sub(convergedAt); wait >= 0 {
				scr.set("verify", row{action: waitingText(wait)})
			}
		} else {
			if !convergedAt.IsZero() {
				scr.set("verify", row{action: "Detected task failure"})
			}
			convergedAt = time.Time{}
		}
		scr.flush()

		if err := o.Sleep(ctx, o.Interval); err != nil {
			if ctx.Err() != nil {
				if converged {
					return nil
				}
				return interrupted()
			}
			return err
		}
	}
}

// waitingText counts the whole seconds left, rounded up.
func waitingText(wait time.Duration) string {
	n := max((wait+time.Second-1)/time.Second, 1)
	unit := "seconds"
	if n == 1 {
		unit = "second"
	}
	return fmt.Sprintf("Waiting %d %s to verify that tasks are stable...", n, unit)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
