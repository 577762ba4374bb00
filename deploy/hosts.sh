#!/usr/bin/env bash
# Runs a shoal cluster on several hosts on this machine: each host is a
# network namespace with its own dockerd (own data root, exec root, socket,
# pidfile and docker0), joined to the others by a veth into one bridge; a
# shoal node per host, the first `manager init`, the others joining with
# tokens. The same mechanism as internal/hostbed (Go tests, bench/cutoff).
# Needs root, iproute2, nsenter (util-linux), iptables and dockerd.
#
#   deploy/hosts.sh up [-m MANAGERS] [-w WORKERS] [--bare]
#                                                    build, make the hosts, start the nodes
#                                                    (--bare: hosts and dockerds only, no nodes)
#   deploy/hosts.sh status                           hosts, nodes and `swarmctl node ls`
#   deploy/hosts.sh partition NAME                   cut a host off: its veth down (e.g. w1)
#   deploy/hosts.sh heal NAME                        its veth up again
#   deploy/hosts.sh kill NAME                        kill -9 the host's shoal node
#   deploy/hosts.sh start NAME                       restart a killed node (`run`)
#   deploy/hosts.sh freeze NAME | thaw NAME          SIGSTOP / SIGCONT the host's dockerd
#   deploy/hosts.sh exec NAME CMD...                 run CMD in the host's network namespace,
#                                                    DOCKER_HOST set to its dockerd
#   deploy/hosts.sh down                             stop everything and remove it all
#
# Hosts are named after their node: m1.. for managers, w1.. for workers.
# Everything lives under /tmp/sb/ID (ID: 4 random hex digits, in every
# bridge, veth and namespace name); .data/hosts/id remembers the bed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${SHOAL_HOSTS_STATE:-$root/.data/hosts}
bin=$root/bin
image=shoal/demoapp:latest

log() { printf '%s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need() {
	[ "$(id -u)" = 0 ] || die "hosts.sh needs root (network namespaces, veths, iptables, dockerd)"
	for b in ip nsenter iptables dockerd docker; do
		command -v "$b" >/dev/null || die "$b is not on PATH (iproute2, util-linux, iptables, docker.io)"
	done
}

bed_id() { [ -f "$state/id" ] && cat "$state/id"; }
dir() { echo "/tmp/sb/$(bed_id)"; }
names() { cat "$(dir)/names"; }
# host NAME: the host's index (1-based) in the bed.
host() {
	local i=1 n
	for n in $(names); do
		[ "$n" = "$1" ] && { echo "$i"; return; }
		i=$((i + 1))
	done
	die "no host named $1 (hosts: $(names | tr '\n' ' '))"
}
netns() { echo "sb$(bed_id)h$1"; }
hdir() { echo "$(dir)/h$1"; }
ip_of() { echo "10.213.$(($((16#$(bed_id))) % 250)).$((10 + $1))"; }
in_ns() { local i=$1; shift; DOCKER_HOST=unix://$(hdir "$i")/docker.sock nsenter --net=/run/netns/"$(netns "$i")" -- "$@"; }

build() {
	mkdir -p "$bin"
	log "building manager, worker, swarmctl"
	(cd "$root" && CGO_ENABLED=0 go build -o "$bin/" ./cmd/manager ./cmd/worker ./cmd/swarmctl)
	docker image inspect "$image" >/dev/null 2>&1 || "$root/deploy/build-images.sh"
}

make_host() { # INDEX
	local i=$1 ns br d ipaddr
	ns=$(netns "$i") br=sb$(bed_id) d=$(hdir "$i") ipaddr=$(ip_of "$i")
	mkdir -p "$d"
	ip netns add "$ns"
	ip link add "$ns" mtu 1400 type veth peer name "${ns}p" mtu 1400
	ip link set "${ns}p" netns "$ns"
	ip link set "$ns" master "$br" up
	ip -n "$ns" link set "${ns}p" name eth0
	ip -n "$ns" addr add "$ipaddr/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	echo '{}' >"$d/daemon.json"
	local driver
	driver=$(docker info --format '{{.Driver}}' 2>/dev/null || echo fuse-overlayfs)
	nsenter --net=/run/netns/"$ns" -- dockerd --config-file "$d/daemon.json" \
		--data-root "$d/d" --exec-root "$d/x" --pidfile "$d/docker.pid" \
		-H "unix://$d/docker.sock" --storage-driver "$driver" \
		--bip "172.29.$i.1/24" --mtu 1400 --iptables=true --log-level warn \
		>"$d/dockerd.log" 2>&1 &
	echo $! >"$d/dockerd.pid"
}

wait_docker() { # INDEX
	local d
	d=$(hdir "$1")
	for _ in $(seq 300); do
		docker -H "unix://$d/docker.sock" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "the dockerd of host $1 did not answer; see $d/dockerd.log"
}

launch() { # INDEX BINARY ARGS...
	local i=$1 b=$2 d
	shift 2
	d=$(hdir "$i")
	# A simple command, so that $! is the node's PID (nsenter execs it).
	DOCKER_HOST=unix://$d/docker.sock nsenter --net=/run/netns/"$(netns "$i")" -- "$bin/$b" "$@" >>"$d/node.log" 2>&1 &
	echo $! >"$d/node.pid"
}

node_args() { # INDEX NAME
	local a
	a=$(ip_of "$1")
	echo --data-dir "$(hdir "$1")/node" --hostname "$2" --listen-addr "$a:2377" --advertise-addr "$a:2377" --gossip-addr "$a:7946"
}

m1sock() { echo "$(hdir 1)/node/swarm.sock"; }

up() {
	local managers=1 workers=2 bare=false
	while [ $# -gt 0 ]; do
		case $1 in
		-m) managers=$2; shift 2 ;;
		-w) workers=$2; shift 2 ;;
		--bare) bare=true; shift ;;
		*) die "unknown flag $1" ;;
		esac
	done
	[ "$managers" -ge 1 ] || die "-m: at least one manager"
	need
	[ -z "$(bed_id)" ] || die "a bed is up (/tmp/sb/$(bed_id)); deploy/hosts.sh down first"
	build
	mkdir -p "$state"
	local id
	id=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
	echo "$id" >"$state/id"
	mkdir -p "$(dir)"
	# Not a PID: internal/hostbed's sweep leaves this bed alone.
	echo hosts.sh >"$(dir)/owner"
	: >"$(dir)/names"
	for i in $(seq "$managers"); do echo "m$i" >>"$(dir)/names"; done
	for i in $(seq "$workers"); do echo "w$i" >>"$(dir)/names"; done
	local n=$((managers + workers))
	echo "$n" >"$(dir)/hosts"
	ip link add "sb$id" mtu 1400 type bridge
	ip link set "sb$id" up
	# Docker's FORWARD policy drops bridged traffic between the hosts.
	iptables -I FORWARD -i "sb$id" -o "sb$id" -j ACCEPT
	for i in $(seq "$n"); do make_host "$i"; done
	for i in $(seq "$n"); do wait_docker "$i"; done
	log "loading $image into $n hosts"
	for i in $(seq "$n"); do docker save "$image" | docker -H "unix://$(hdir "$i")/docker.sock" load -q >/dev/null; done
	if $bare; then
		status
		log "bed $id is up without nodes: deploy/hosts.sh exec NAME CMD... runs CMD with DOCKER_HOST set to NAME's dockerd"
		return
	fi

	launch 1 manager init $(node_args 1 m1)
	for _ in $(seq 150); do
		[ -S "$(m1sock)" ] && SWARM_HOST=unix://$(m1sock) "$bin/swarmctl" cluster inspect >/dev/null 2>&1 && break
		sleep 0.2
	done
	export SWARM_HOST=unix://$(m1sock)
	local mtok wtok i=1 name
	mtok=$("$bin/swarmctl" cluster join-token -q manager)
	wtok=$("$bin/swarmctl" cluster join-token -q worker)
	for name in $(names); do
		case $name in
		m1) ;;
		m*) launch "$i" manager join $(node_args "$i" "$name") --token "$mtok" "$(ip_of 1):2377" ;;
		w*) launch "$i" worker join $(node_args "$i" "$name") --token "$wtok" "$(ip_of 1):2377" ;;
		esac
		i=$((i + 1))
	done
	sleep 2
	status
	cat <<EOF

The hosts run (bed $id). Reach the first manager through its API socket:

    export SWARM_HOST=unix://$(m1sock)     # for bin/swarmctl
    export DOCKER_HOST=unix://$(m1sock)    # for the stock docker CLI
    bin/swarmctl service create --name web --replicas 6 $image

    deploy/hosts.sh partition w1; deploy/hosts.sh heal w1
    deploy/hosts.sh exec w1 docker ps       # w1's own dockerd

Logs: $(dir)/hN/node.log and dockerd.log.  Stop: deploy/hosts.sh down
EOF
}

# running PIDFILE: the process is alive (a zombie is not).
running() {
	[ -f "$1" ] || return 1
	local st
	st=$(ps -o stat= -p "$(cat "$1")" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
}

status() {
	[ -n "$(bed_id)" ] || { log "no bed is up"; return; }
	local i=1 name link
	for name in $(names); do
		link=$(cat /sys/class/net/"$(netns "$i")"/operstate 2>/dev/null || echo gone)
		printf '%-4s %-15s link %-5s dockerd %-8s node %s\n' "$name" "$(ip_of "$i")" "$link" \
			"$(running "$(hdir "$i")/dockerd.pid" && echo up || echo down)" \
			"$(running "$(hdir "$i")/node.pid" && echo running || echo stopped)"
		i=$((i + 1))
	done
	SWARM_HOST=unix://$(m1sock) "$bin/swarmctl" node ls 2>/dev/null || true
}

signal_dockerd() { # NAME SIGNAL
	local i
	i=$(host "$1")
	kill "-$2" "$(cat "$(hdir "$i")/dockerd.pid")"
}

start_node() {
	local i name=$1 b=worker
	i=$(host "$name")
	running "$(hdir "$i")/node.pid" && die "$name is running"
	case $name in m*) b=manager ;; esac
	launch "$i" "$b" run --data-dir "$(hdir "$i")/node"
}

kill_node() {
	local i
	i=$(host "$1")
	running "$(hdir "$i")/node.pid" || die "$1 is not running"
	kill -KILL "$(cat "$(hdir "$i")/node.pid")"
	for _ in $(seq 50); do running "$(hdir "$i")/node.pid" || break; sleep 0.1; done
	log "killed $1"
}

down() {
	local id
	id=$(bed_id)
	[ -n "$id" ] || { log "no bed is up"; return; }
	need
	local n i ns pid
	n=$(cat "$(dir)/hosts" 2>/dev/null || echo 0)
	for i in $(seq "$n"); do
		pid=$(cat "$(hdir "$i")/node.pid" 2>/dev/null || true)
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
	done
	sleep 2
	for i in $(seq "$n"); do
		pid=$(cat "$(hdir "$i")/dockerd.pid" 2>/dev/null || true)
		[ -n "$pid" ] && { kill -CONT "$pid"; kill -TERM "$pid"; } 2>/dev/null || true
	done
	for i in $(seq "$n"); do
		pid=$(cat "$(hdir "$i")/dockerd.pid" 2>/dev/null || true)
		for _ in $(seq 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	done
	for i in $(seq "$n"); do
		ns=$(netns "$i")
		[ -e "/run/netns/$ns" ] && ip netns pids "$ns" | xargs -r kill -KILL 2>/dev/null || true
	done
	sleep 0.5
	awk -v d="$(dir)" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- | xargs -r -n1 umount -l 2>/dev/null || true
	for i in $(seq "$n"); do
		ns=$(netns "$i")
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
		[ -e "/sys/class/net/$ns" ] && ip link del "$ns" 2>/dev/null || true
	done
	while iptables -D FORWARD -i "sb$id" -o "sb$id" -j ACCEPT 2>/dev/null; do :; done
	[ -e "/sys/class/net/sb$id" ] && ip link del "sb$id"
	rm -rf "$(dir)" "$state/id"
	log "removed bed $id: namespaces, veths, bridge, FORWARD rule, dockerds and their data"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) up "$@" ;;
status) status ;;
partition) ip link set "$(netns "$(host "$1")")" down ;;
heal) ip link set "$(netns "$(host "$1")")" up ;;
kill) kill_node "$1" ;;
start) start_node "$1" ;;
freeze) signal_dockerd "$1" STOP ;;
thaw) signal_dockerd "$1" CONT ;;
exec) i=$(host "$1"); shift; in_ns "$i" "$@" ;;
down) down ;;
*) sed -n '2,25p' "$0"; exit 2 ;;
esac
