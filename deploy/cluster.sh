#!/usr/bin/env bash
# Runs a shoal cluster as plain processes on this machine: N managers and M
# workers on loopback ports, each with its own data dir under .data/, all
# running tasks on the local Docker daemon (each agent only touches the
# containers labelled with its own node ID).
#
#   deploy/cluster.sh up [-m MANAGERS] [-w WORKERS]   build, start, print how to reach it
#   deploy/cluster.sh status                           processes and `swarmctl node ls`
#   deploy/cluster.sh kill NAME                        kill -9 one node (e.g. m1, w2)
#   deploy/cluster.sh stop NAME                        SIGTERM one node
#   deploy/cluster.sh start NAME                       restart a stopped node (`run`)
#   deploy/cluster.sh down [--purge]                   stop every node; --purge also removes
#                                                      the data dirs and the nodes' containers
#
# Environment: SHOAL_DATA (default ./.data/cluster), SHOAL_PORT_BASE
# (default 4000: managers listen on 127.0.0.1:4001.., workers get the
# following ports).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SHOAL_DATA:-$root/.data/cluster}
base=${SHOAL_PORT_BASE:-4000}
bin=$root/bin

log() { printf '%s\n' "$*" >&2; }

build() {
	mkdir -p "$bin"
	log "building manager, worker, swarmctl"
	(cd "$root" && CGO_ENABLED=0 go build -o "$bin/" ./cmd/manager ./cmd/worker ./cmd/swarmctl)
	if ! docker image inspect shoal/demoapp:latest >/dev/null 2>&1; then
		"$root/deploy/build-images.sh"
	fi
}

pidfile() { echo "$data/$1.pid"; }

running() {
	local p
	p=$(pidfile "$1")
	[ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null
}

# start NAME ARGS...: runs bin/<binary> in the background, logging to NAME.log.
launch() {
	local name=$1 binary=$2
	shift 2
	mkdir -p "$data"
	env -u DOCKER_HOST "$bin/$binary" "$@" >>"$data/$name.log" 2>&1 &
	echo $! >"$(pidfile "$name")"
}

wait_socket() {
	local sock=$1
	for _ in $(seq 100); do
		if [ -S "$sock" ] && SWARM_HOST=unix://$sock "$bin/swarmctl" cluster inspect >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	log "manager at $sock did not come up; see $data/*.log"
	return 1
}

addr() { echo "127.0.0.1:$((base + $1))"; }
gossip() { echo "127.0.0.1:$((base + 500 + $1))"; }

up() {
	local managers=3 workers=2
	while [ $# -gt 0 ]; do
		case $1 in
		-m) managers=$2; shift 2 ;;
		-w) workers=$2; shift 2 ;;
		*) log "unknown flag $1"; exit 2 ;;
		esac
	done
	if [ $((managers % 2)) -eq 0 ]; then
		log "warning: $managers managers: an even number tolerates no more failures than $((managers - 1))"
	fi
	build
	local m1sock=$data/m1/swarm.sock
	if [ -f "$data/m1/node.json" ]; then
		log "restarting the existing cluster in $data"
		for n in $(ls "$data" | sed -n 's/^\([mw][0-9]*\)$/\1/p'); do
			running "$n" || start_node "$n"
		done
		wait_socket "$m1sock"
		status
		return
	fi
	launch m1 manager init --data-dir "$data/m1" --hostname m1 \
		--listen-addr "$(addr 1)" --advertise-addr "$(addr 1)" --gossip-addr "$(gossip 1)"
	wait_socket "$m1sock"
	export SWARM_HOST=unix://$m1sock
	local mtok wtok
	mtok=$("$bin/swarmctl" cluster join-token -q manager)
	wtok=$("$bin/swarmctl" cluster join-token -q worker)
	for i in $(seq 2 "$managers"); do
		launch "m$i" manager join --data-dir "$data/m$i" --hostname "m$i" --token "$mtok" \
			--listen-addr "$(addr "$i")" --advertise-addr "$(addr "$i")" --gossip-addr "$(gossip "$i")" "$(addr 1)"
	done
	for i in $(seq 1 "$workers"); do
		local k=$((100 + i))
		launch "w$i" worker join --data-dir "$data/w$i" --hostname "w$i" --token "$wtok" \
			--listen-addr "$(addr $k)" --advertise-addr "$(addr $k)" --gossip-addr "$(gossip $k)" "$(addr 1)"
	done
	for i in $(seq 2 "$managers"); do wait_socket "$data/m$i/swarm.sock"; done
	sleep 1
	status
	cat <<EOF

The cluster runs. Reach any manager through its API socket:

    export SWARM_HOST=unix://$m1sock     # for bin/swarmctl
    export DOCKER_HOST=unix://$m1sock    # for the stock docker CLI

    bin/swarmctl node ls
    bin/swarmctl service create --name web --replicas 6 shoal/demoapp:latest
    docker service ps web

Logs: $data/NAME.log.  Stop: deploy/cluster.sh down
EOF
}

start_node() {
	local n=$1
	if running "$n"; then
		log "$n is already running"
		return
	fi
	local b=worker
	case $n in m*) b=manager ;; esac
	launch "$n" "$b" run --data-dir "$data/$n"
}

kill_node() {
	local n=$1 sig=${2:-KILL}
	if ! running "$n"; then
		log "$n is not running"
		return
	fi
	kill "-$sig" "$(cat "$(pidfile "$n")")"
	log "sent SIG$sig to $n (pid $(cat "$(pidfile "$n")"))"
}

status() {
	for p in "$data"/*.pid; do
		[ -e "$p" ] || continue
		local n
		n=$(basename "$p" .pid)
		if running "$n"; then echo "$n running (pid $(cat "$p"))"; else echo "$n stopped"; fi
	done
	for p in "$data"/m*/swarm.sock; do
		[ -S "$p" ] || continue
		if SWARM_HOST=unix://$p "$bin/swarmctl" node ls 2>/dev/null; then return; fi
	done
}

down() {
	for p in "$data"/*.pid; do
		[ -e "$p" ] || continue
		local n
		n=$(basename "$p" .pid)
		if running "$n"; then kill -TERM "$(cat "$p")"; fi
	done
	for p in "$data"/*.pid; do
		[ -e "$p" ] || continue
		local pid
		pid=$(cat "$p")
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$p"
	done
	if [ "${1:-}" = --purge ]; then
		for d in "$data"/*/; do
			[ -f "$d/node.json" ] || continue
			local id
			id=$(sed -n 's/.*"node_id": *"\([^"]*\)".*/\1/p' "$d/node.json")
			[ -n "$id" ] && docker ps -aq --filter "label=io.shoal.node.id=$id" | xargs -r docker rm -f >/dev/null
		done
		rm -rf "$data"
		log "removed $data and the nodes' containers"
	fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) up "$@" ;;
status) status ;;
kill) kill_node "$1" KILL ;;
stop) kill_node "$1" TERM ;;
start) start_node "$1" ;;
down) down "$@" ;;
*) sed -n '2,17p' "$0"; exit 2 ;;
esac
