#!/bin/sh
# Make sure the Docker daemon offers gVisor as the runtime "runsc" (Debian bookworm, as root).
#
# Idempotent: exits 0 at once when `docker info` already lists runsc. Otherwise installs
# Debian's runsc package, adds it to /etc/docker/daemon.json (keeping whatever else is there;
# cells under runsc get no network: --network=none) and makes the running daemon reload its
# configuration (SIGHUP; containers keep running). The adversarial suite runs under it too.
set -eu

has_runsc() {
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'
}

if has_runsc; then
    echo "ensure-runsc: the daemon already offers runsc"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-runsc: the daemon has no runsc runtime and this is not root; cannot add it" >&2
    exit 1
fi
if ! command -v runsc >/dev/null 2>&1; then
    echo "ensure-runsc: installing runsc (gVisor)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends runsc >/dev/null
fi

mkdir -p /etc/docker
python3 - "$(command -v runsc)" <<'EOF'
import json, os, sys

path = "/etc/docker/daemon.json"
config = {}
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as fh:
        config = json.load(fh)
config.setdefault("runtimes", {})["runsc"] = {"path": sys.argv[1], "runtimeArgs": ["--network=none"]}
with open(path + ".tmp", "w") as fh:
    json.dump(config, fh, indent=2)
os.replace(path + ".tmp", path)
EOF

pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
if [ -z "$pid" ]; then
    echo "ensure-runsc: no dockerd process to reload (start it with scripts/ensure-docker.sh)" >&2
    exit 1
fi
kill -HUP "$pid"
i=0
while [ "$i" -lt 20 ]; do
    if has_runsc; then
        echo "ensure-runsc: runsc registered (daemon reloaded)"
        exit 0
    fi
    sleep 0.5
    i=$((i + 1))
done
echo "ensure-runsc: the daemon did not pick up runsc from /etc/docker/daemon.json" >&2
exit 1
