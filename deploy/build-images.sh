#!/bin/sh
# Builds shoal's images from static binaries, offline: every image is
# FROM scratch, so nothing is pulled and no registry is needed.
#
#   deploy/build-images.sh [TAG]           the demo workload, cmd/demoapp with
#                                          deploy/demoapp/Dockerfile (default shoal/demoapp:latest)
#   deploy/build-images.sh --node [TAG]    the node image, deploy/node.Dockerfile: manager,
#                                          worker, swarmctl and shoal-node (default shoal/node:latest)
#   deploy/build-images.sh --all           both, with their default tags
#
# The node image is labelled with a hash of its binaries and Dockerfile, and
# is not rebuilt when an image with that hash already has the tag.
# Env: GOARCH to cross-build for another engine architecture.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)

gobuild() { # OUT PKG
	(cd "$root" && CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
		-ldflags='-s -w' -o "$1" "$2")
}

build_demoapp() {
	tag=${1:-shoal/demoapp:latest}
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' EXIT INT TERM
	echo "building cmd/demoapp (static)" >&2
	gobuild "$ctx/demoapp" ./cmd/demoapp
	cp "$root/deploy/demoapp/Dockerfile" "$ctx/Dockerfile"
	echo "building image $tag" >&2
	docker build --quiet --tag "$tag" "$ctx"
	rm -rf "$ctx"
	trap - EXIT INT TERM
}

build_node() {
	tag=${1:-shoal/node:latest}
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' EXIT INT TERM
	echo "building cmd/manager, cmd/worker, cmd/swarmctl, deploy/shoal-node (static)" >&2
	mkdir -p "$ctx/bin" "$ctx/skel/var/lib" "$ctx/skel/tmp" "$ctx/data/shoal"
	for p in cmd/manager cmd/worker cmd/swarmctl deploy/shoal-node; do
		gobuild "$ctx/bin/$(basename $p)" "./$p"
	done
	# The data dir's owner and mode travel into the image (COPY --chown),
	# and from there into a named volume mounted on it.
	chmod 0700 "$ctx/data/shoal"
	chmod 1777 "$ctx/skel/tmp"
	cp "$root/deploy/node.Dockerfile" "$ctx/Dockerfile"
	hash=$(cd "$ctx" && cat bin/manager bin/worker bin/swarmctl bin/shoal-node Dockerfile | sha256sum | cut -c1-64)
	if [ "$(docker image inspect --format '{{index .Config.Labels "io.shoal.build.hash"}}' "$tag" 2>/dev/null || true)" = "$hash" ]; then
		echo "image $tag is up to date" >&2
	else
		old=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
		echo "building image $tag" >&2
		docker build --quiet --label "io.shoal.build.hash=$hash" --tag "$tag" "$ctx"
		# The image it replaces, unless something still uses or names it.
		[ -z "$old" ] || docker image rm "$old" >/dev/null 2>&1 || true
	fi
	rm -rf "$ctx"
	trap - EXIT INT TERM
}

case ${1:-} in
--node) build_node "${2:-}" ;;
--all)
	build_demoapp ""
	build_node ""
	;;
-h | --help) sed -n '2,14p' "$0" ;;
*) build_demoapp "${1:-}" ;;
esac
