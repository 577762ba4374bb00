#!/bin/sh
# Builds shoal's demo workload image, shoal/demoapp:latest, from a static
# binary of cmd/demoapp and deploy/demoapp/Dockerfile. Works offline: the
# image is FROM scratch, so nothing is pulled.
#
# Usage: deploy/build-images.sh [TAG]   (default shoal/demoapp:latest)
# Env:   GOARCH to cross-build for another engine architecture.
set -eu

tag=${1:-shoal/demoapp:latest}
root=$(cd "$(dirname "$0")/.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT INT TERM

echo "building cmd/demoapp (static)" >&2
(cd "$root" && CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
	-ldflags='-s -w' -o "$ctx/demoapp" ./cmd/demoapp)
cp "$root/deploy/demoapp/Dockerfile" "$ctx/Dockerfile"

echo "building image $tag" >&2
docker build --quiet --tag "$tag" "$ctx"
