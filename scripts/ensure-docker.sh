#!/bin/sh
# Make sure a Docker daemon answers on this machine (fresh Debian bookworm, run as root).
#
# Idempotent: exits 0 at once when `docker info` already works. Otherwise installs
# docker.io (and debootstrap, which dockerkernel needs to create its Debian base image when
# no registry is reachable), starts dockerd in the background with its log in
# /var/log/dockerd.log, and waits up to 60 s for it to answer.
set -eu

LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
WAIT=${DOCKERD_WAIT_SECONDS:-60}

if docker info >/dev/null 2>&1; then
    echo "ensure-docker: daemon already answering"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-docker: no Docker daemon answers and this is not root; cannot install/start one" >&2
    exit 1
fi

missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
if [ -n "$missing" ]; then
    echo "ensure-docker: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y --no-install-recommends $missing
fi

# A daemon may exist but not answer yet (e.g. started by a previous run a moment ago):
# only start another one when no dockerd process is running.
if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "ensure-docker: starting dockerd (log: $LOG)"
    # setsid + nohup: the daemon must outlive this script and its session.
    setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
fi

i=0
while [ "$i" -lt "$WAIT" ]; do
    if docker info >/dev/null 2>&1; then
        echo "ensure-docker: daemon ready after ${i} s"
        exit 0
    fi
    sleep 1
    i=$((i + 1))
done

echo "ensure-docker: dockerd did not answer within ${WAIT} s; last lines of $LOG:" >&2
tail -n 40 "$LOG" >&2 2>/dev/null || true
exit 1
