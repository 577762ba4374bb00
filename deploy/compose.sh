#!/usr/bin/env bash
# Runs a shoal cluster as containers with docker-compose (v1, Debian's
# `docker-compose` binary, or v2's `docker compose`): three managers and
# two workers on a private network (deploy/compose/docker-compose.yml), data
# in named volumes, tasks on the host's Docker daemon. See
# deploy/compose/README.md.
#
#   deploy/compose.sh up               build the images, start m1, read the join
#                                      tokens from it, start m2 m3 w1 w2, wait until
#                                      every node is healthy, print `node ls`
#   deploy/compose.sh down             remove the nodes, their network and volumes,
#                                      and the task containers the nodes started
#   deploy/compose.sh ps               the node containers and `node ls`
#   deploy/compose.sh ctl ARGS...      swarmctl inside m1 (SHOAL_CTL_NODE=m2 for another)
#   deploy/compose.sh kill NODE        SIGKILL a node's container (Docker does not restart it)
#   deploy/compose.sh stop NODE        SIGTERM it: clean shutdown
#   deploy/compose.sh start NODE       start it again (`run` from its volume)
#   deploy/compose.sh socket NODE      host path of a manager's API socket, for
#                                      DOCKER_HOST / SWARM_HOST (needs root: it is in the volume)
#   deploy/compose.sh logs [NODE...]   the nodes' logs
#
# Environment: SHOAL_PROJECT (compose project, default shoal), SHOAL_NET
# (first three octets of the private /24, default 172.29.77), SHOAL_IMAGE
# (default shoal/node:latest), SHOAL_SKIP_BUILD=1 to use that image as it
# is, SHOAL_DOCKER_SOCKET (default /var/run/docker.sock).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
file=$root/deploy/compose/docker-compose.yml
project=${SHOAL_PROJECT:-shoal}
export SHOAL_NET=${SHOAL_NET:-172.29.77}
export SHOAL_IMAGE=${SHOAL_IMAGE:-shoal/node:latest}
export SHOAL_DOCKER_SOCKET=${SHOAL_DOCKER_SOCKET:-/var/run/docker.sock}
managers=(m1 m2 m3)
workers=(w1 w2)

log() { printf '%s\n' "$*" >&2; }
die() {
	log "compose.sh: $*"
	exit 1
}

if command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
else
	die "needs docker-compose (apt-get install docker-compose) or the compose plugin"
fi
dc() { "${compose[@]}" --project-name "$project" --file "$file" "$@"; }

# The node's user gets the socket's group, so it can drive the daemon
# without being root (see deploy/node.Dockerfile for what that means).
if [ -z "${SHOAL_DOCKER_GID:-}" ]; then
	SHOAL_DOCKER_GID=$(stat -c %g "$SHOAL_DOCKER_SOCKET" 2>/dev/null || echo 0)
fi
export SHOAL_DOCKER_GID

# cid NODE: the node's container (by compose's labels: docker is much
# quicker to start than docker-compose).
cid() {
	local id
	id=$(docker ps -aq --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1")
	[ -n "$id" ] || die "no container for node $1 (is the cluster up?)"
	[ "$(echo "$id" | wc -l)" -eq 1 ] || die "several containers for node $1: $id"
	echo "$id"
}

ctl() {
	local n=${SHOAL_CTL_NODE:-m1}
	docker exec "$(cid "$n")" swarmctl "$@"
}

# wait_for WHAT SECONDS CMD...: runs CMD every half second until it succeeds.
wait_for() {
	local what=$1 secs=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			log "timed out after ${secs}s waiting for $what; last attempt said:"
			"$@" >&2 || true
			return 1
		fi
		sleep 0.5
	done
}

# wait_healthy NODE: runs the image's health probe until it passes, instead
# of waiting for Docker's next one (every 5 s).
wait_healthy() {
	local id
	id=$(cid "$1")
	wait_for "$1 to be healthy" 120 docker exec "$id" shoal-node health || {
		dc logs --tail 40 "$1" >&2
		exit 1
	}
}

# all_ready N: succeeds when m1 lists N nodes, all Ready.
all_ready() {
	local out
	out=$(ctl node ls) || return 1
	[ "$(echo "$out" | grep -c ' Ready ')" -eq "$1" ] || {
		echo "$out"
		return 1
	}
}

build() {
	if [ "${SHOAL_SKIP_BUILD:-}" = 1 ]; then
		docker image inspect "$SHOAL_IMAGE" >/dev/null 2>&1 || die "SHOAL_SKIP_BUILD=1 but there is no image $SHOAL_IMAGE"
	else
		"$root/deploy/build-images.sh" --node "$SHOAL_IMAGE"
	fi
	if ! docker image inspect shoal/demoapp:latest >/dev/null 2>&1; then
		"$root/deploy/build-images.sh"
	fi
}

up() {
	build
	log "starting m1 (it creates the cluster on its first start, restarts it from its volume after)"
	dc up -d --no-deps m1
	wait_healthy m1
	# The API answers before the cluster object is committed.
	wait_for "m1 to create the cluster" 60 ctl cluster inspect
	SHOAL_MANAGER_TOKEN=$(ctl cluster join-token -q manager)
	SHOAL_WORKER_TOKEN=$(ctl cluster join-token -q worker)
	export SHOAL_MANAGER_TOKEN SHOAL_WORKER_TOKEN
	log "starting ${managers[*]:1} ${workers[*]}"
	dc up -d --no-deps "${managers[@]:1}" "${workers[@]}"
	for n in "${managers[@]:1}" "${workers[@]}"; do
		wait_healthy "$n"
	done
	local all=$((${#managers[@]} + ${#workers[@]}))
	wait_for "$all ready nodes" 60 all_ready "$all"
	ctl node ls
	cat <<-END

		The cluster runs (compose project $project). Drive it through m1:

		    deploy/compose.sh ctl node ls
		    deploy/compose.sh ctl service create --name web --replicas 6 shoal/demoapp:latest
		    deploy/compose.sh ctl service ps web

		or, as root, with the stock docker CLI on m1's API socket:

		    export DOCKER_HOST=unix://\$(deploy/compose.sh socket m1)
		    docker node ls

		Tasks run on this host's Docker daemon: docker ps --filter label=io.shoal.node.id
		Stop and remove everything: deploy/compose.sh down
	END
}

# node_ids prints the node IDs held in the project's volumes, read by
# shoal-node in a throwaway container, so it works with the nodes down.
node_ids() {
	local vols
	vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$project")
	[ -n "$vols" ] || return 0
	if ! docker image inspect "$SHOAL_IMAGE" >/dev/null 2>&1; then
		log "warning: no image $SHOAL_IMAGE to read the node IDs with: the nodes' task containers are left"
		return 0
	fi
	local mounts=() dirs=()
	for v in $vols; do
		mounts+=(-v "$v:/volumes/$v:ro")
		dirs+=("/volumes/$v")
	done
	docker run --rm --network none --entrypoint shoal-node "${mounts[@]}" "$SHOAL_IMAGE" id "${dirs[@]}" |
		awk '{print $2}'
}

down() {
	local ids n=0
	ids=$(node_ids)
	# SIGTERM first: the nodes shut down cleanly and start nothing more.
	dc down --volumes --remove-orphans --timeout 30
	for id in $ids; do
		local cs
		cs=$(docker ps -aq --filter "label=io.shoal.node.id=$id")
		if [ -n "$cs" ]; then
			# shellcheck disable=SC2086
			docker rm -f $cs >/dev/null
			n=$((n + $(echo "$cs" | wc -l)))
		fi
	done
	log "removed the nodes, their network and volumes, and $n task container(s)"
}

socket() {
	local vol
	vol=$(docker inspect --format '{{range .Mounts}}{{if eq .Destination "/var/lib/shoal"}}{{.Name}}{{end}}{{end}}' "$(cid "$1")")
	echo "$(docker volume inspect --format '{{.Mountpoint}}' "$vol")/swarm.sock"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) up ;;
down) down ;;
ps)
	dc ps
	ctl node ls || true
	;;
ctl) ctl "$@" ;;
kill) docker kill --signal KILL "$(cid "${1:?node}")" >/dev/null ;;
stop) docker stop --time 30 "$(cid "${1:?node}")" >/dev/null ;;
start) docker start "$(cid "${1:?node}")" >/dev/null ;;
socket) socket "${1:?node}" ;;
logs) dc logs "$@" ;;
*)
	sed -n '2,25p' "$0"
	exit 2
	;;
esac
