package api

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/scheduler"
	"github.com/shoal-dev/shoal/state"
)

// ManualRollbackMessage is the UpdateStatus message of a rollback a user
// asked for, Docker's.
const ManualRollbackMessage = "manually requested rollback"

// listServices answers GET /services?filters=&status=.
func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r, "id", "name", "label", "mode", "runtime")
	if err != nil {
		return err
	}
	for _, m := range f.Get("mode") {
		if m != "replicated" && m != "global" && m != "replicated-job" && m != "global-job" {
			return filterError("mode", m, "mode=replicated, mode=global, mode=replicated-job or mode=global-job")
		}
	}
	withStatus, err := boolParam(r, "status")
	if err != nil {
		return err
	}
	out := []swarm.Service{}
	err = s.view(r.Context(), func(tx state.ReadTx) error {
		services, err := tx.FindServices(state.All)
		if err != nil {
			return err
		}
		for _, svc := range services {
			if !matchPrefix(svc.ID, f.Get("id")) || !matchPrefixFold(svc.Spec.Name, f.Get("name")) ||
				!matchLabels(svc.Spec.Labels, f.Get("label")) || !runtimeMatches(f.Get("runtime")) {
				continue
			}
			if f.Contains("mode") && !f.ExactMatch("mode", svc.Spec.ModeName()) {
				continue
			}
			var status *swarm.ServiceStatus
			if withStatus {
				status, err = serviceStatus(tx, svc)
				if err != nil {
					return err
				}
			}
			out = append(out, convert.ServiceToDocker(svc, status))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// serviceStatus counts a service's tasks as Docker does for
// `docker service ls`: running tasks that are meant to run, and the tasks
// wanted (the replica count, or the tasks meant to run of a global
// service). For a job, only the current iteration's tasks count: the
// completed ones, and as desired the ones still to run (the lesser of
// MaxConcurrent and the completions missing for a replicated job, the
// wanted tasks not yet complete for a global one).
func serviceStatus(tx state.ReadTx, svc *model.Service) (*swarm.ServiceStatus, error) {
	st := &swarm.ServiceStatus{}
	job := svc.Spec.IsJob()
	if svc.Spec.Mode.Replicated != nil {
		st.DesiredTasks = svc.Spec.Replicas()
	}
	done := map[uint64]bool{}
	err := tx.ForEachTask(state.ByServiceID(svc.ID), func(t *model.Task) bool {
		if job && !model.TaskUpToDate(t, svc) {
			return true
		}
		if job && t.Status.State == model.TaskStateComplete {
			st.CompletedTasks++
			done[t.Slot] = true
			return true
		}
		if !t.DesiredState.Wanted() {
			return true
		}
		if t.Status.State == model.TaskStateRunning {
			st.RunningTasks++
		}
		if svc.Spec.IsGlobal() && !t.Status.State.Terminal() {
			st.DesiredTasks++
		}
		return true
	})
	if j := svc.Spec.Mode.ReplicatedJob; j != nil {
		missing := j.TotalCompletions - min(uint64(len(done)), j.TotalCompletions)
		st.DesiredTasks = min(j.MaxConcurrent, missing)
	}
	return st, err
}

// inspectService answers GET /services/{id}?insertDefaults=.
func (s *Server) inspectService(w http.ResponseWriter, r *http.Request) error {
	insertDefaults, err := boolParam(r, "insertDefaults")
	if err != nil {
		return err
	}
	var out swarm.Service
	err = s.view(r.Context(), func(tx state.ReadTx) error {
		svc, err := findService(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		out = convert.ServiceToDocker(svc, nil)
		return nil
	})
	if err != nil {
		return err
	}
	if insertDefaults {
		convert.InsertServiceDefaults(&out.Spec)
	}
	return writeJSON(w, http.StatusOK, out)
}

// serviceSpec validates a spec a client sent: the conversion refuses what
// shoal does not implement, then the scheduler checks the placement it
// will have to parse. Every refused field is named.
func serviceSpec(in swarm.ServiceSpec) (model.ServiceSpec, error) {
	spec, err := convert.ServiceSpecFromDocker(in)
	if err != nil {
		return model.ServiceSpec{}, err
	}
	var errs []error
	for i, c := range spec.Task.Placement.Constraints {
		if _, err := scheduler.ParseConstraints([]string{c}); err != nil {
			errs = append(errs, fieldError(fmt.Sprintf("TaskTemplate.Placement.Constraints[%d]", i), err))
		}
	}
	for i, p := range spec.Task.Placement.Preferences {
		if err := scheduler.ValidatePlacement(model.Placement{Preferences: []model.PlacementPreference{p}}); err != nil {
			errs = append(errs, fieldError(fmt.Sprintf("TaskTemplate.Placement.Preferences[%d]", i), err))
		}
	}
	if len(errs) > 0 {
		return model.ServiceSpec{}, errors.Join(errs...)
	}
	return spec, nil
}

// checkLimits refuses a spec above the cluster's limits (400, naming the
// field, the limit and how to change it). The cluster is read from the
// local store without a read barrier, as the caller reads it: a limit
// changed a moment ago on another manager may not be seen yet, which the
// orchestrator makes harmless by checking again before it acts on a spec.
func checkLimits(tx state.ReadTx, spec *model.ServiceSpec) error {
	var o *model.OrchestrationConfig
	if c := tx.Cluster(); c != nil {
		o = &c.Spec.Orchestration
	}
	if err := spec.CheckLimits(o); err != nil {
		return &Error{Status: http.StatusBadRequest, Err: err, Msg: "Mode.Replicated.Replicas: " + err.Error()}
	}
	return nil
}

// fieldError names the field a scheduler error is about, keeping the
// error for errors.Is.
func fieldError(field string, err error) error {
	return &Error{Status: http.StatusBadRequest, Err: err,
		Msg: field + ": " + strings.TrimPrefix(err.Error(), "scheduler: ")}
}

// createService answers POST /services/create with 201 {ID, Warnings}. A
// name in use is refused (409) by the store, atomically.
func (s *Server) createService(w http.ResponseWriter, r *http.Request) error {
	var in swarm.ServiceSpec
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	spec, err := serviceSpec(in)
	if err != nil {
		return err
	}
	if err := s.resolveServiceRefs(r.Context(), &spec); err != nil {
		return err
	}
	if err := s.backend.Store().View(func(tx state.ReadTx) error { return checkLimits(tx, &spec) }); err != nil {
		return err
	}
	svc := &model.Service{ID: model.NewID(), Spec: spec}
	if err := s.propose(r.Context(), state.Op{Type: state.OpCreateService, Service: svc}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: svc.ID})
}

// updateService answers POST /services/{id}/update?version=&rollback=.
//
// A spec change keeps the old spec as PreviousSpec, for a rollback, and
// resets UpdateStatus: the orchestrator starts a rolling update if the
// task spec changed, and a pure scale has no update for `docker service
// update` to wait for. A spec sent unchanged changes nothing, so it does
// not lose the spec to roll back to.
//
// With rollback=previous the CLI sends the current spec unchanged; the
// body must be valid JSON but is otherwise ignored: the service goes back
// to PreviousSpec (which becomes the previous one in turn) and
// UpdateStatus says rollback_started, for the orchestrator to carry out.
//
// The service is read without a read barrier when this manager's store has
// it at the version the client names, the usual case (viewForWrite): the
// write then costs one quorum round trip, not two.
func (s *Server) updateService(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r, "service")
	if err != nil {
		return err
	}
	rollback, err := enumParam(r, "rollback", "previous")
	if err != nil {
		return err
	}
	var in swarm.ServiceSpec
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var spec model.ServiceSpec
	if rollback == "" {
		if spec, err = serviceSpec(in); err != nil {
			return err
		}
		if err := s.resolveServiceRefs(r.Context(), &spec); err != nil {
			return err
		}
	}
	ref := r.PathValue("id")
	var n *model.Service
	err = s.viewForWrite(r.Context(), func(tx state.ReadTx) (bool, error) {
		svc, err := findService(tx, ref)
		if err != nil {
			return false, err
		}
		var keepsStatus bool
		n, keepsStatus, err = s.serviceUpdate(svc, spec, rollback != "")
		if err == nil {
			err = checkLimits(tx, &n.Spec)
		}
		// An unchanged spec keeps the stored UpdateStatus, which the
		// orchestrator changes without bumping the version: that copy
		// must come from a linearizable read.
		return svc.ID == ref && svc.Version.Index == version && !keepsStatus, err
	})
	if err != nil {
		return err
	}
	if err := s.propose(r.Context(), state.Op{Type: state.OpUpdateService, Service: n, Version: version}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{})
}

// serviceUpdate returns svc updated to spec, or rolled back, as
// updateService describes. keepsStatus tells that the result carries
// svc's UpdateStatus (the spec is unchanged).
func (s *Server) serviceUpdate(svc *model.Service, spec model.ServiceSpec, rollback bool) (n *model.Service, keepsStatus bool, err error) {
	n = svc.Copy()
	if rollback {
		if svc.Spec.IsJob() {
			return nil, false, badRequest("service %s is a job: jobs cannot be rolled back; update the job to run it again", svc.Spec.Name)
		}
		if svc.PreviousSpec == nil {
			return nil, false, badRequest("service %s does not have a previous spec to roll back to", svc.Spec.Name)
		}
		current := svc.Spec.Copy()
		n.Spec, n.PreviousSpec = svc.PreviousSpec.Copy(), &current
		n.PreviousSpecVersion = svc.SpecVersion
		now := s.cfg.Clock().UTC()
		n.UpdateStatus = &model.UpdateStatus{State: model.UpdateStateRollbackStarted, StartedAt: &now, Message: ManualRollbackMessage}
		return n, false, nil
	}
	if err := checkServiceChange(&svc.Spec, &spec); err != nil {
		return nil, false, err
	}
	if reflect.DeepEqual(svc.Spec, spec) {
		return n, true, nil
	}
	previous := svc.Spec.Copy()
	n.Spec, n.PreviousSpec = spec, &previous
	n.PreviousSpecVersion = svc.SpecVersion
	n.UpdateStatus = nil
	return n, false, nil
}

// checkServiceChange refuses the changes Docker refuses: a service keeps
// its name and its mode.
func checkServiceChange(old, updated *model.ServiceSpec) error {
	var errs []error
	if old.Name != updated.Name {
		errs = append(errs, &convert.FieldError{Field: "Name", Kind: convert.ErrUnsupported,
			Reason: fmt.Sprintf("%q: renaming services is not supported (the service is %q)", updated.Name, old.Name)})
	}
	if old.ModeName() != updated.ModeName() {
		errs = append(errs, &convert.FieldError{Field: "Mode", Kind: convert.ErrInvalid,
			Reason: fmt.Sprintf("service mode change is not allowed (%s to %s): create a new service", old.ModeName(), updated.ModeName())})
	}
	return errors.Join(errs...)
}

// removeService answers DELETE /services/{id}. The service's tasks are
// removed with it: the ones on nodes get desired state REMOVE and their
// agents stop them.
func (s *Server) removeService(w http.ResponseWriter, r *http.Request) error {
	var id string
	if err := s.view(r.Context(), func(tx state.ReadTx) error {
		svc, err := findService(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		id = svc.ID
		return nil
	}); err != nil {
		return err
	}
	if err := s.propose(r.Context(), state.Op{Type: state.OpDeleteService, ID: id}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
