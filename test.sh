#!/usr/bin/env bash
# Runs the whole test suite, as CI does:
#   1. go vet and gofmt;
#   2. every package's tests: unit tests, in-process Raft/gossip clusters,
#      real Docker containers (executor, agent), real processes on loopback
#      (e2e, swarmctl) and the stock docker CLI against a manager (api);
#   3. the race detector on the concurrency-heavy packages;
#   4. brief fuzzing of the parsers that face the network.
#
#   ./test.sh          everything
#   ./test.sh quick    steps 1 and 2 only
#
# Needs Go 1.26 and a running Docker daemon; nothing is pulled from a
# registry (test images are built locally FROM scratch).
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-all}

step() { printf '\n=== %s\n' "$*"; }
start=$(date +%s)

step "go vet, gofmt"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted"
	exit 1
fi

# The packages that run real containers go one at a time, after the others:
# sharing one Docker daemon, in parallel they slow it down enough to miss
# health-check deadlines.
docker_pkgs="./agent/ ./agent/exec/dockerexec/ ./agent/netplane/ ./internal/testimage/ ./internal/hostbed/ ./e2e/ ./robustness/"
other_pkgs=$(go list ./... | grep -v -E '/(agent|agent/exec/dockerexec|agent/netplane|internal/testimage|internal/hostbed|e2e|robustness)$')

step "tests (unit, in-process clusters, multi-process, docker CLI)"
go test -count=1 -timeout 20m $other_pkgs

step "tests on the Docker daemon (executor, agents, end-to-end, robustness), one package at a time"
go test -count=1 -timeout 20m -p 1 $docker_pkgs

if [ "$mode" != quick ]; then
	step "race detector on the concurrency-heavy packages"
	go test -count=1 -race -timeout 20m \
		./state/... ./transport/ ./manager/ ./orchestrator/ ./scheduler/ \
		./dispatcher/... ./agent/ ./discovery/ ./api/ ./ca/ ./encryption/ ./dashboard/

	step "fuzzing the join token and CSR parsers, the service spec converter and the orchestrator's planning (a fixed number of inputs each: a time limit that ended while the fuzzer minimized a new input failed the run with 'context deadline exceeded', a flake of Go's fuzzer on a busy machine)"
	go test -run='^$' -fuzz='^FuzzParseJoinToken$' -fuzztime=100000x ./ca/
	go test -run='^$' -fuzz='^FuzzIssueNodeCertificate$' -fuzztime=20000x ./ca/
	go test -run='^$' -fuzz='^FuzzServiceSpecFromDocker$' -fuzztime=150000x ./api/convert/
	go test -run='^$' -fuzz='^FuzzPlanService$' -fuzztime=100000x ./orchestrator/
fi

if [ "$mode" != quick ]; then
	# Every bench program at a tiny size (about a minute in all), so they
	# never rot; each exits non-zero on failure. See BENCHMARKS.md.
	step "benchmark smoke"
	benchbin=$(mktemp -d)
	trap 'rm -rf "$benchbin"' EXIT
	go build -o "$benchbin/" ./bench/sim ./bench/docker ./bench/writes ./bench/failover ./bench/nodeloss ./bench/restart ./bench/gossip ./bench/dashboard
	"$benchbin/sim" -nodes 20 -tasks 200 -runs 1
	# Without Docker's Swarm mode: it runs only on a daemon of its own
	# (bench/docker's doc; deploy/hosts.sh), never on the shared one.
	"$benchbin/docker" -replicas 5 -rounds 1 -images nohealth -swarm=false
	"$benchbin/writes" -clients 1,8 -duration 2s -runs 1
	"$benchbin/failover" -runs 1
	"$benchbin/nodeloss" -runs 1 -images nohealth
	"$benchbin/restart" -tasks 2000 -nodes 20 -runs 1 -snapshot=false
	"$benchbin/gossip" -members 10 -duration 2s -kills 1 -joins 1
	"$benchbin/dashboard" -nodes 20 -tasks 200 -scale-up 20
fi

printf '\nall tests passed in %ss\n' $(($(date +%s) - start))
