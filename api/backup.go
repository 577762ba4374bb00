package api

import (
	"net/http"
	"strconv"
)

// PathBackup serves a consistent snapshot of the whole swarm state, for
// `swarmctl cluster backup` and `manager init --restore`. It is not part of
// Docker's API. The snapshot holds secrets (the root CA key, the join
// tokens, the unlock key): whoever may call the API could take the cluster
// over anyway, which is why the API is only served on a 0600 socket and,
// over TCP, to manager certificates.
const PathBackup = "/shoal/backup"

// backup writes the store's snapshot after a linearizable read barrier, so
// that it holds every write acknowledged before the request.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	if err := s.backend.ReadBarrier(r.Context()); err != nil {
		return err
	}
	snap := s.backend.Store().Snapshot()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Shoal-Store-Index", strconv.FormatUint(snap.Index(), 10))
	w.WriteHeader(http.StatusOK)
	if _, err := snap.WriteTo(w); err != nil {
		// The status is sent: abort the connection so that the client
		// sees a broken stream, never a complete-looking truncated one.
		s.log.Warn("backup interrupted", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
