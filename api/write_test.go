package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// Writes that carry the version the client read skip the read barrier when
// the local store has the object at that version (api.Server.viewForWrite).

// createWeb creates service "web" with one replica and returns it as a
// client reads it.
func createWeb(e *env) swarm.Service {
	e.t.Helper()
	var created swarm.ServiceCreateResponse
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("web", 1), &created)
	return getService(e, created.ID)
}

// scale posts the update `docker service scale` sends: the whole spec
// with another replica count.
func scale(e *env, ref string, spec swarm.ServiceSpec, version uint64, replicas uint64) response {
	e.t.Helper()
	mode := *spec.Mode.Replicated
	mode.Replicas = &replicas
	spec.Mode.Replicated = &mode
	return e.do("POST", "/v1.41/services/"+ref+"/update?version="+itoa(version), spec)
}

// barriers returns the read barriers taken since the last call.
func (e *env) barriers() int64 { return e.b.barriers.Swap(0) }

func TestUpdateAtCurrentVersionTakesNoBarrier(t *testing.T) {
	e := newEnv(t, 3)
	s := createWeb(e)

	e.barriers()
	if r := scale(e, s.ID, s.Spec, s.Version.Index, 2); r.status != http.StatusOK {
		t.Fatalf("scale: %d %s", r.status, r.body)
	}
	if n := e.barriers(); n != 0 {
		t.Errorf("scale at the current version took %d read barriers, want 0", n)
	}
	stored := e.service(s.ID)
	if stored.Spec.Replicas() != 2 || stored.PreviousSpec == nil || stored.PreviousSpec.Replicas() != 1 || stored.UpdateStatus != nil {
		t.Errorf("after the scale: replicas %d, previous %+v, update status %+v", stored.Spec.Replicas(), stored.PreviousSpec, stored.UpdateStatus)
	}

	// The version the client read is stale: still refused.
	e.barriers()
	if r := scale(e, s.ID, s.Spec, s.Version.Index, 3); r.status != http.StatusConflict || r.message() != "update out of sequence" {
		t.Errorf("stale version: %d %s", r.status, r.body)
	}

	// By name, and with the spec unchanged (the stored UpdateStatus is
	// kept), the service is read after a barrier; both succeed.
	s = getService(e, s.ID)
	e.barriers()
	if r := scale(e, "web", s.Spec, s.Version.Index, 3); r.status != http.StatusOK {
		t.Fatalf("scale by name: %d %s", r.status, r.body)
	}
	if n := e.barriers(); n != 1 {
		t.Errorf("scale by name took %d read barriers, want 1", n)
	}
	e.propose(state.Op{Type: state.OpServiceUpdateStatus, ID: s.ID, SpecVersion: e.service(s.ID).SpecVersion.Index,
		UpdateStatus: &model.UpdateStatus{State: model.UpdateStateCompleted}})
	s = getService(e, s.ID)
	e.barriers()
	e.must(http.StatusOK, "POST", "/services/"+s.ID+"/update?version="+itoa(s.Version.Index), s.Spec, nil)
	if n := e.barriers(); n != 1 {
		t.Errorf("unchanged spec took %d read barriers, want 1", n)
	}
	if st := e.service(s.ID).UpdateStatus; st == nil || st.State != model.UpdateStateCompleted {
		t.Errorf("unchanged spec: update status %+v, want completed", st)
	}

	// A rollback at the current version.
	s = getService(e, s.ID)
	e.barriers()
	e.must(http.StatusOK, "POST", "/services/"+s.ID+"/update?version="+itoa(s.Version.Index)+"&rollback=previous", s.Spec, nil)
	if n := e.barriers(); n != 0 {
		t.Errorf("rollback took %d read barriers, want 0", n)
	}
	if stored := e.service(s.ID); stored.Spec.Replicas() != 2 || stored.UpdateStatus == nil ||
		stored.UpdateStatus.State != model.UpdateStateRollbackStarted {
		t.Errorf("after the rollback: replicas %d, update status %+v", stored.Spec.Replicas(), stored.UpdateStatus)
	}

	// A node update (drain) at the current version; a stale one.
	node := e.node(e.b.m.ID)
	var dn swarm.Node
	e.must(http.StatusOK, "GET", "/nodes/"+node.ID, nil, &dn)
	spec := dn.Spec
	spec.Availability = swarm.NodeAvailabilityDrain
	e.barriers()
	e.must(http.StatusOK, "POST", "/nodes/"+node.ID+"/update?version="+itoa(dn.Version.Index), spec, nil)
	if n := e.barriers(); n != 0 {
		t.Errorf("node update took %d read barriers, want 0", n)
	}
	if got := e.node(node.ID).Spec.Availability; got != model.AvailabilityDrain {
		t.Errorf("availability %s, want drain", got)
	}
	if r := e.do("POST", "/nodes/"+node.ID+"/update?version="+itoa(dn.Version.Index), spec); r.status != http.StatusConflict ||
		r.message() != "update out of sequence" {
		t.Errorf("stale node version: %d %s", r.status, r.body)
	}
}

// lagBehind makes the API's manager read a copy of its store as it is now
// until its next read barrier, as a follower behind the others would.
func lagBehind(e *env) {
	e.t.Helper()
	var buf bytes.Buffer
	if _, err := e.b.m.Store.Snapshot().WriteTo(&buf); err != nil {
		e.t.Fatal(err)
	}
	lag := state.NewStore()
	if err := lag.Restore(&buf); err != nil {
		e.t.Fatal(err)
	}
	e.b.mu.Lock()
	e.b.lagging = lag
	e.b.mu.Unlock()
}

func TestUpdateOnLaggingStore(t *testing.T) {
	e := newEnv(t, 1)
	s := createWeb(e)
	lagBehind(e)

	// Another manager wrote the service, and the client read the new
	// version there: this store has the old one, so the update reads
	// again after a barrier and succeeds.
	replicas := uint64(4)
	n := e.service(s.ID).Copy()
	n.Spec.Mode.Replicated.Replicas = replicas
	e.propose(state.Op{Type: state.OpUpdateService, Service: n, Version: s.Version.Index})
	newer := e.service(s.ID)
	e.barriers()
	if r := scale(e, s.ID, s.Spec, newer.Version.Index, 5); r.status != http.StatusOK {
		t.Fatalf("update at a version newer than the local store's: %d %s", r.status, r.body)
	}
	if n := e.barriers(); n != 1 {
		t.Errorf("took %d read barriers, want 1", n)
	}
	if got := e.service(s.ID).Spec.Replicas(); got != 5 {
		t.Errorf("replicas %d, want 5", got)
	}

	// A service this store does not have yet is found after the barrier.
	lagBehind(e)
	var created swarm.ServiceCreateResponse
	e.must(http.StatusCreated, "POST", "/services/create", webSpec("db", 1), &created)
	db := e.service(created.ID)
	e.barriers()
	if r := scale(e, db.ID, webSpec("db", 1), db.Version.Index, 2); r.status != http.StatusOK {
		t.Fatalf("update of a service the local store lacks: %d %s", r.status, r.body)
	}
	if n := e.barriers(); n != 1 {
		t.Errorf("took %d read barriers, want 1", n)
	}

	// A service deleted since, still in this store at the client's
	// version: the FSM, not the stale store, has the last word.
	cur := e.service(s.ID)
	lagBehind(e)
	e.propose(state.Op{Type: state.OpDeleteService, ID: s.ID})
	if r := scale(e, s.ID, s.Spec, cur.Version.Index, 1); r.status != http.StatusNotFound {
		t.Errorf("update of a service deleted since: %d %s", r.status, r.body)
	}
}

func TestUpdateThroughFollower(t *testing.T) {
	e := newEnv(t, 3)
	s := createWeb(e)
	e.c.WaitConverged(waitTimeout)

	f := *e
	follower := e.c.Followers()[0]
	f.b = &testBackend{c: e.c, m: follower, reg: prometheus.NewRegistry(), nodeID: follower.ID, manager: true,
		reach: map[string]model.Reachability{}, logs: newFakeLogs()}
	cfg := api.DefaultConfig()
	cfg.Version = "test"
	cfg.Logger = testLogger(t)
	f.srv = api.NewServer(f.b, cfg)
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)

	if r := scale(&f, s.ID, s.Spec, s.Version.Index, 3); r.status != http.StatusOK {
		t.Fatalf("scale through a follower: %d %s", r.status, r.body)
	}
	if n := f.barriers(); n != 0 {
		t.Errorf("took %d read barriers, want 0", n)
	}
	if got := e.service(s.ID).Spec.Replicas(); got != 3 {
		t.Errorf("replicas %d on the leader, want 3", got)
	}
	if r := scale(&f, s.ID, s.Spec, s.Version.Index, 2); r.status != http.StatusConflict || r.message() != "update out of sequence" {
		t.Errorf("stale version through a follower: %d %s", r.status, r.body)
	}
}
