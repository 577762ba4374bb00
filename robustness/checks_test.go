package robustness

import (
	"fmt"
	"sort"

	"github.com/shoal-dev/shoal/model"
)

// The checks made once the faults are healed, shared by both levels.

// serviceView and taskView are what the convergence check needs of the
// store, read from the store itself (in-process) or through the API.
type serviceView struct {
	ID       string
	Name     string
	Replicas uint64
}

type taskView struct {
	ID        string
	ServiceID string
	NodeID    string
	Slot      uint64
	Desired   model.TaskState
	State     model.TaskState
}

// convergenceProblems says how the tasks differ from what the services
// ask for: every slot 1..replicas of every service has exactly one task
// meant to run, and it runs; no slot has two RUNNING tasks; no task keeps
// running once it is meant to stop or its service is gone.
func convergenceProblems(services []serviceView, tasks []taskView) []string {
	var out []string
	byID := map[string]serviceView{}
	for _, s := range services {
		byID[s.ID] = s
	}
	type slotKey struct {
		service string
		slot    uint64
	}
	wanted := map[slotKey][]taskView{}
	running := map[slotKey][]taskView{}
	for _, t := range tasks {
		k := slotKey{t.ServiceID, t.Slot}
		if t.State == model.TaskStateRunning {
			running[k] = append(running[k], t)
		}
		svc, ok := byID[t.ServiceID]
		switch {
		case !ok && t.State == model.TaskStateRunning:
			out = append(out, fmt.Sprintf("task %s of removed service %s is still running", short(t.ID), short(t.ServiceID)))
		case !ok:
		case t.Desired <= model.TaskStateRunning && t.Slot > svc.Replicas:
			out = append(out, fmt.Sprintf("service %s: task %s in slot %d is meant to run but the service has %d replicas",
				svc.Name, short(t.ID), t.Slot, svc.Replicas))
		case t.Desired <= model.TaskStateRunning:
			wanted[k] = append(wanted[k], t)
		case t.State == model.TaskStateRunning:
			out = append(out, fmt.Sprintf("service %s: task %s (slot %d) is still running with desired state %s",
				svc.Name, short(t.ID), t.Slot, t.Desired))
		}
	}
	for k, ts := range running {
		if len(ts) > 1 {
			out = append(out, fmt.Sprintf("service %s slot %d has %d RUNNING tasks", short(k.service), k.slot, len(ts)))
		}
	}
	for _, s := range services {
		for slot := uint64(1); slot <= s.Replicas; slot++ {
			ts := wanted[slotKey{s.ID, slot}]
			switch {
			case len(ts) == 0:
				out = append(out, fmt.Sprintf("service %s slot %d has no task meant to run", s.Name, slot))
			case len(ts) > 1:
				out = append(out, fmt.Sprintf("service %s slot %d has %d tasks meant to run", s.Name, slot, len(ts)))
			case ts[0].State != model.TaskStateRunning:
				out = append(out, fmt.Sprintf("service %s slot %d: task %s is %s, not running", s.Name, slot, short(ts[0].ID), ts[0].State))
			}
		}
	}
	sort.Strings(out)
	return out
}

// finalStates reads the final state of each name from reads made through
// every manager once the faults were healed, and says where managers
// disagree.
func finalStates(reads map[string]map[string]svcOutput) (map[string]regState, []string) {
	final := map[string]regState{}
	var problems []string
	var names []string
	for n := range reads {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var first svcOutput
		var firstMember string
		members := reads[name]
		var ms []string
		for m := range members {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		for i, m := range ms {
			o := members[m]
			o.Status, o.Msg = 0, ""
			if i == 0 {
				first, firstMember = o, m
				continue
			}
			if o != first {
				problems = append(problems, fmt.Sprintf("%s: %s reads %s but %s reads %s", name, m, describeOutput(o), firstMember, describeOutput(first)))
			}
		}
		if first.Outcome == outOK {
			final[name] = regState{Exists: true, ID: first.ID, Version: first.Version, Replicas: first.Replicas, Label: first.Label}
		} else {
			final[name] = regState{}
		}
	}
	return final, problems
}
