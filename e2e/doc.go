// Package e2e holds the end-to-end tests: real manager and worker processes
// on loopback (internal/proctest) or containers (deploy/compose.sh), driven
// through the Docker Engine API with the Docker client library, running
// real containers on the local Docker daemon.
//
// The scenario (scenario_test.go) runs twice, on three managers and two
// workers each time: TestScenarioProcesses on processes,
// TestScenarioCompose on the compose cluster (skipped, saying why, without
// docker-compose or root, or with SHOAL_E2E_COMPOSE=0). Its steps: the
// nodes join with tokens; a 6-replica service of the demo image converges
// and every container answers HTTP with its task; a drained worker's tasks
// move; kill -9 of the leader (new leader, writes through another manager,
// the old leader back as a follower); kill -9 of a worker (replacements,
// its stale containers stopped when it is back); scaling to 12 and 3, a
// rolling update and a rollback; teardown, leaving nothing. Every step
// waits on state read through the API and on the engine, with deadlines,
// never a fixed sleep; with -v each test prints a timing table (also
// appended to $SHOAL_E2E_TIMINGS when set):
//
//	go test -v -run TestScenario ./e2e/
//
// Containers of the nodes a test started are removed when it ends, failed
// or not, by their io.shoal.node.id labels.
package e2e
