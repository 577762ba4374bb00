package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/model"
)

func getSwarm(e *env) swarm.Swarm {
	e.t.Helper()
	var s swarm.Swarm
	e.must(http.StatusOK, "GET", "/v1.41/swarm", nil, &s)
	return s
}

// updateSwarm sends an update as `docker swarm update` does.
func updateSwarm(e *env, query string, mod func(*swarm.Spec)) response {
	e.t.Helper()
	s := getSwarm(e)
	if mod != nil {
		mod(&s.Spec)
	}
	return e.do("POST", "/v1.41/swarm/update?version="+itoa(s.Version.Index)+query, s.Spec)
}

func TestSwarm(t *testing.T) {
	e := newEnv(t, 1)
	c := e.clusterObject()
	s := getSwarm(e)
	if s.ID != c.ID || s.Spec.Name != "default" || s.JoinTokens.Worker != c.RootCA.JoinTokens.Worker ||
		s.JoinTokens.Manager != c.RootCA.JoinTokens.Manager || s.TLSInfo.TrustRoot != string(e.root.CertPEM()) {
		t.Errorf("swarm %+v", s)
	}

	// docker swarm update --task-history-limit 3 --cert-expiry 48h
	r := updateSwarm(e, "&rotateManagerToken=false&rotateManagerUnlockKey=false&rotateWorkerToken=false", func(s *swarm.Spec) {
		limit := int64(3)
		s.Orchestration.TaskHistoryRetentionLimit = &limit
		s.CAConfig.NodeCertExpiry = 48 * time.Hour
	})
	if r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	c2 := e.clusterObject()
	if c2.Spec.Orchestration.TaskHistoryRetentionLimit != 3 || c2.Spec.CAConfig.NodeCertExpiry != 48*time.Hour ||
		c2.RootCA.JoinTokens != c.RootCA.JoinTokens || c2.UnlockKey != "" {
		t.Errorf("after update: %+v", c2)
	}

	// docker swarm join-token --rotate worker, then manager.
	if r := updateSwarm(e, "&rotateWorkerToken=true", nil); r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	c3 := e.clusterObject()
	if c3.RootCA.JoinTokens.Worker == c2.RootCA.JoinTokens.Worker || c3.RootCA.JoinTokens.Manager != c2.RootCA.JoinTokens.Manager {
		t.Fatalf("worker rotation: %+v -> %+v", c2.RootCA.JoinTokens, c3.RootCA.JoinTokens)
	}
	if role, err := ca.CheckJoinToken(c3.RootCA.JoinTokens.Worker, e.root, c3.RootCA.JoinTokens); err != nil || role != model.RoleWorker {
		t.Errorf("new worker token: %v %v", role, err)
	}
	if _, err := ca.CheckJoinToken(c2.RootCA.JoinTokens.Worker, e.root, c3.RootCA.JoinTokens); err == nil {
		t.Errorf("the old worker token still works")
	}
	if r := updateSwarm(e, "&rotateManagerToken=1", nil); r.status != http.StatusOK {
		t.Fatalf("rotate manager: %d %s", r.status, r.body)
	}
	c4 := e.clusterObject()
	if role, err := ca.CheckJoinToken(c4.RootCA.JoinTokens.Manager, e.root, c4.RootCA.JoinTokens); err != nil ||
		role != model.RoleManager || c4.RootCA.JoinTokens.Manager == c3.RootCA.JoinTokens.Manager {
		t.Errorf("manager rotation: %v %v", role, err)
	}

	// Autolock: a key appears, rotates on request, and goes with autolock.
	if r := e.do("GET", "/swarm/unlockkey", nil); r.status != http.StatusNotFound || !strings.Contains(r.message(), "no unlock key is set") {
		t.Errorf("unlock key without autolock: %d %s", r.status, r.body)
	}
	if r := updateSwarm(e, "", func(s *swarm.Spec) { s.EncryptionConfig.AutoLockManagers = true }); r.status != http.StatusOK {
		t.Fatalf("autolock: %d %s", r.status, r.body)
	}
	var key swarm.UnlockKeyResponse
	e.must(http.StatusOK, "GET", "/v1.41/swarm/unlockkey", nil, &key)
	if _, err := encryption.ParseUnlockKey(key.UnlockKey); err != nil {
		t.Errorf("unlock key %q: %v", key.UnlockKey, err)
	}
	if r := updateSwarm(e, "", nil); r.status != http.StatusOK || e.clusterObject().UnlockKey != key.UnlockKey {
		t.Errorf("an update without rotation changed the unlock key: %d %s", r.status, r.body)
	}
	if r := updateSwarm(e, "&rotateManagerUnlockKey=true", nil); r.status != http.StatusOK {
		t.Fatalf("rotate unlock key: %d %s", r.status, r.body)
	}
	if k := e.clusterObject().UnlockKey; k == key.UnlockKey || k == "" {
		t.Errorf("unlock key after rotation: %q", k)
	}
	if r := updateSwarm(e, "", func(s *swarm.Spec) { s.EncryptionConfig.AutoLockManagers = false }); r.status != http.StatusOK {
		t.Fatalf("autolock off: %d %s", r.status, r.body)
	}
	if k := e.clusterObject().UnlockKey; k != "" {
		t.Errorf("unlock key kept without autolock")
	}

	for _, tc := range []struct {
		name, query string
		mod         func(*swarm.Spec)
		status      int
		msg         string
	}{
		{"rename", "", func(s *swarm.Spec) { s.Name = "other" }, 400, "Name: \"other\": the cluster cannot be renamed"},
		{"short certificates", "", func(s *swarm.Spec) { s.CAConfig.NodeCertExpiry = time.Minute }, 400, "CAConfig.NodeCertExpiry"},
		{"external CA", "", func(s *swarm.Spec) {
			s.CAConfig.ExternalCAs = []*swarm.ExternalCA{{Protocol: swarm.ExternalCAProtocolCFSSL, URL: "https://ca"}}
		}, 400, "CAConfig.ExternalCAs"},
	} {
		if r := updateSwarm(e, tc.query, tc.mod); r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	spec := getSwarm(e).Spec
	if r := e.do("POST", "/swarm/update?version=2", spec); r.status != http.StatusConflict || r.message() != "update out of sequence" {
		t.Errorf("stale: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/swarm/update", spec); r.status != http.StatusBadRequest || !strings.Contains(r.message(), "invalid value for parameter version: \"\": want the swarm's version") {
		t.Errorf("no version: %d %s", r.status, r.body)
	}
}

// TestSwarmMembershipCalls checks the answers to the calls shoal does not
// serve through the Docker API.
func TestSwarmMembershipCalls(t *testing.T) {
	e := newEnv(t, 1)
	for _, tc := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{"/swarm/init", `{"ListenAddr": "0.0.0.0:2377"}`, 503, "This node is already part of a swarm"},
		{"/swarm/join", `{"RemoteAddrs": ["10.0.0.1:2377"], "JoinToken": "SWMTKN-1-x"}`, 503, "manager join"},
		{"/swarm/leave?force=1", ``, 503, "docker node demote"},
		{"/swarm/unlock", `{"UnlockKey": "SWMKEY-1-x"}`, 409, "swarm is not locked"},
		{"/swarm/unlock", `{"Key": "x"}`, 400, `unknown field "Key"`},
	} {
		if r := e.do("POST", "/v1.41"+tc.path, tc.body); r.status != tc.status || !strings.Contains(r.message(), tc.msg) {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	e.b.setRole("", false)
	if r := e.do("POST", "/swarm/init", `{}`); r.status != http.StatusBadRequest || !strings.Contains(r.message(), "manager init") {
		t.Errorf("init outside a swarm: %d %s", r.status, r.body)
	}
}
