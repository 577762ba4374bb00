#!/usr/bin/env bash
# The quick start: builds everything and starts a single-node cluster on the
# local Docker daemon (the manager runs tasks too), then prints how to reach
# it. `deploy/quickstart.sh down` stops it; `down --purge` also removes its
# data and containers. For more nodes see deploy/cluster.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export SHOAL_DATA=${SHOAL_DATA:-$root/.data/quickstart}
case ${1:-up} in
up) exec "$root/deploy/cluster.sh" up -m 1 -w 0 ;;
*) exec "$root/deploy/cluster.sh" "$@" ;;
esac
