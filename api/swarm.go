package api

import (
	"fmt"
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/ca"
	"github.com/shoal-dev/shoal/encryption"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// How a swarm is created, joined and left with shoal: through the shoal
// binaries, which hold the certificates and the data directory, not
// through the Docker API of a running manager.
const (
	hintInit  = "shoal does not create swarms through the Docker API: the first manager initialises the swarm when it starts (manager init), and other nodes join with `manager join` or `worker join` and a token from `docker swarm join-token`"
	hintLeave = "shoal does not leave swarms through the Docker API: demote the node if it is a manager (docker node demote), stop its shoal process, then remove it (docker node rm)"
)

// cluster reads the cluster object after a read barrier.
func (s *Server) cluster(r *http.Request) (*model.Cluster, error) {
	var c *model.Cluster
	if err := s.view(r.Context(), func(tx state.ReadTx) error {
		c = tx.Cluster()
		return nil
	}); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Msg: MsgNoCluster}
	}
	return c, nil
}

// inspectSwarm answers GET /swarm, join tokens included: the API is only
// served to the managers' administrators (a 0600 socket or mutual TLS).
func (s *Server) inspectSwarm(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.ClusterToDocker(c))
}

// updateSwarm answers POST /swarm/update: `docker swarm update` and
// `docker swarm join-token --rotate`. The CLI sends the whole spec it read
// with the version it read.
func (s *Server) updateSwarm(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r, "swarm")
	if err != nil {
		return err
	}
	rotate := map[string]bool{}
	for _, name := range []string{"rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey"} {
		if rotate[name], err = boolParam(r, name); err != nil {
			return err
		}
	}
	var spec swarm.Spec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	current, err := s.cluster(r)
	if err != nil {
		return err
	}
	newSpec, err := convert.ClusterSpecFromDocker(spec, current.Spec)
	if err != nil {
		return err
	}
	c := current.Copy()
	c.Spec = newSpec
	if rotate["rotateWorkerToken"] || rotate["rotateManagerToken"] {
		root, err := ca.NewRootCA(current.RootCA.CACert, nil)
		if err != nil {
			return fmt.Errorf("api: the cluster's root CA cannot make join tokens: %w", err)
		}
		for name, token := range map[string]*string{
			"rotateWorkerToken":  &c.RootCA.JoinTokens.Worker,
			"rotateManagerToken": &c.RootCA.JoinTokens.Manager,
		} {
			if !rotate[name] {
				continue
			}
			t, err := ca.GenerateJoinToken(root)
			if err != nil {
				return fmt.Errorf("api: rotating a join token: %w", err)
			}
			*token = t.String()
		}
	}
	// The managers watch the cluster object and rewrap their data keys
	// when the unlock key changes.
	switch {
	case !newSpec.Encryption.AutoLockManagers:
		c.UnlockKey = ""
	case c.UnlockKey == "" || rotate["rotateManagerUnlockKey"]:
		c.UnlockKey = encryption.GenerateUnlockKey().String()
	}
	if err := s.propose(r.Context(), state.Op{Type: state.OpUpdateCluster, Cluster: c, Version: version}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// unlockKey answers GET /swarm/unlockkey: the key that unlocks a manager
// after a restart when autolock is on.
func (s *Server) unlockKey(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster(r)
	if err != nil {
		return err
	}
	if !c.Spec.Encryption.AutoLockManagers || c.UnlockKey == "" {
		return notFound("no unlock key is set: autolock is off (docker swarm update --autolock=true turns it on)")
	}
	return writeJSON(w, http.StatusOK, swarm.UnlockKeyResponse{UnlockKey: c.UnlockKey})
}

// initSwarm answers POST /swarm/init.
func (s *Server) initSwarm(w http.ResponseWriter, r *http.Request) error {
	return s.notThroughAPI(hintInit)
}

// joinSwarm answers POST /swarm/join.
func (s *Server) joinSwarm(w http.ResponseWriter, r *http.Request) error {
	return s.notThroughAPI(hintInit)
}

// leaveSwarm answers POST /swarm/leave.
func (s *Server) leaveSwarm(w http.ResponseWriter, r *http.Request) error {
	return &Error{Status: http.StatusServiceUnavailable, Msg: hintLeave}
}

func (s *Server) notThroughAPI(hint string) error {
	if s.nodeID() != "" {
		// Docker's answer to init or join on a node of a swarm.
		return &Error{Status: http.StatusServiceUnavailable,
			Msg: `This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one. (` + hint + ")"}
	}
	return badRequest("%s", hint)
}

// unlockSwarm answers POST /swarm/unlock. A manager serves this API only
// once it has read its state, that is once it is unlocked: a locked
// manager is given its key when it starts. A worker has nothing to unlock
// and answers as Docker's does, with the message for workers.
func (s *Server) unlockSwarm(w http.ResponseWriter, r *http.Request) error {
	var req swarm.UnlockRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.checkManager(); err != nil {
		return err
	}
	return &Error{Status: http.StatusConflict,
		Msg: "swarm is not locked: this manager is running and unlocked (a locked shoal manager is given its unlock key when it starts, before it serves this API)"}
}
