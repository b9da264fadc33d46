#!/usr/bin/env bash
# Stop the dockerkernel stack started by dind/up.sh.
#
#   dind/down.sh        stop and remove the containers and the network; keep the volumes
#                       (the nested daemon's images, the certificates, ~/notebooks/work)
#   dind/down.sh -v     also remove the volumes: nothing of the project is left on the host
#                       (the stack images dockerkernel/dind and dockerkernel/jupyter stay;
#                       add --rmi all to remove them too)
#
# COMPOSE_PROJECT_NAME selects the project (default dockerkernel). Other arguments go to
# `docker-compose down`.
set -euo pipefail
cd "$(dirname "$0")/.."
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-dockerkernel}
# shellcheck source=dind/compose.sh
. dind/compose.sh
compose_detect || { echo "down: no docker-compose / docker compose" >&2; exit 1; }
# The nested daemon stops its containers on SIGTERM; give it time (default 10 s is short).
"${COMPOSE[@]}" down --remove-orphans --timeout 30 "$@"
