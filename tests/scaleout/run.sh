#!/bin/bash
# The three-node scale-out test (issue 17): JupyterHub on Docker Swarm, a cell daemon per node,
# USERS users running a docker-bash notebook, a node stopped mid-cell. Bounded (timeout).
#
#   tests/scaleout/run.sh                  # ten users (DKSCALE_USERS); about 5.5 minutes on two cores
#
# Builds what it needs on the host daemon when missing, so it runs from a clean clone: the
# stack images dockerkernel/dind and dockerkernel/jupyter (UP_BUILD_ONLY=1 dind/up.sh), the cell
# image dockerkernel/bash (`dockerkernel images build bash`), the node image
# (examples/swarm/node.Dockerfile) and the Hub image (examples/swarm/Dockerfile).
#
# What runs: three node containers on a bridge this script creates (the project's unprivileged
# capability set), each with a swarm dockerd (unix socket) and a celld started by
# `python3 -m dockerkernel.node celld` (mutual TLS on 2376, certificate from a cluster CA made
# by `dockerkernel node ca`); a Swarm across them; the Hub pinned to node1, published on
# 127.0.0.1 only; images loaded with docker save/load and `dockerkernel images load` (no
# registry; Swarm services name the image by ID). tests/scaleout/drive.py does the rest and
# the table is printed at the end. Everything the run created is removed (trap), also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
trap teardown EXIT
trap 'exit 130' INT TERM

USERS=${DKSCALE_USERS:-10}
NODE_IMAGE=${DKSCALE_NODE_IMAGE:-dockerkernel/node}
HUB_IMAGE=${DKSCALE_HUB_IMAGE:-dockerkernel/hub}
CELL_IMAGE=${DKSCALE_CELL_IMAGE:-dockerkernel/bash}
PY=${PYTHON:-python3}
export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}
DIND_IMAGE=$NODE_IMAGE

t0=$SECONDS
if ! docker image inspect dockerkernel/dind >/dev/null 2>&1 || ! docker image inspect dockerkernel/jupyter >/dev/null 2>&1; then
    say "building the stack images (dind/up.sh, UP_BUILD_ONLY=1)"
    UP_BUILD_ONLY=1 "$repo/dind/up.sh" >&2
fi
if ! docker image inspect "$CELL_IMAGE" >/dev/null 2>&1 && [ "$CELL_IMAGE" = dockerkernel/bash ]; then
    say "building $CELL_IMAGE"
    "$PY" -m dockerkernel images build bash >&2
fi
if ! docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    say "building $NODE_IMAGE"
    docker build -q -t "$NODE_IMAGE" -f "$repo/examples/swarm/node.Dockerfile" "$repo/examples/swarm" >/dev/null
fi
if ! docker image inspect "$HUB_IMAGE" >/dev/null 2>&1; then
    say "building $HUB_IMAGE"
    ctx=$WORK/hub-context
    cp -r "$repo/examples/swarm" "$ctx"
    cp "${DOCKERKERNEL_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" "$ctx/ca-bundle.crt" 2>/dev/null || : >"$ctx/ca-bundle.crt"
    docker build -q -t "$HUB_IMAGE" -f "$ctx/Dockerfile" "$ctx" >/dev/null
fi
hub_id=$(docker image inspect -f '{{.Id}}' "$HUB_IMAGE")
docker image inspect "$CELL_IMAGE" >/dev/null || die "$CELL_IMAGE is not on the host daemon"
t_images=$((SECONDS - t0))

# the cluster CA and its client certificate (the cellds' clients: every user's server)
"$PY" -m dockerkernel.node ca "$WORK/ca" >/dev/null
hubport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$("$PY" -c 'import secrets; print(secrets.token_hex(24))')

create_network
for n in $(seq 1 "$NODES"); do
    publish=()
    [ "$n" = 1 ] && publish=(-p "127.0.0.1:$hubport:8000")
    docker volume create --label "dkscale.run=$RUN" "$(node_name "$n")-cells" >/dev/null
    start_node "$n" "${publish[@]}" -v "$(node_name "$n")-cells:/var/lib/dockerkernel-cells" \
        -v "$WORK/ca:/certs:ro" -v "$repo:/opt/dockerkernel:ro" -e PYTHONPATH=/opt/dockerkernel
done
for n in $(seq 1 "$NODES"); do wait_node "$n"; done
for n in $(seq 1 "$NODES"); do
    docker exec -d "$(node_name "$n")" sh -c "python3 -m dockerkernel.node celld --ca /certs --name node$n \
        --address $(node_ip "$n") --cgroup-parent /$(node_name "$n")-cells -- --log-level=warn >/var/log/celld.log 2>&1"
done
for n in $(seq 1 "$NODES"); do
    for _ in $(seq 1 120); do
        "$PY" -m dockerkernel.node health --host "tcp://$(node_ip "$n"):2376" --cert-path "$WORK/ca/client" 2>/dev/null && break
        sleep 0.5
    done
    "$PY" -m dockerkernel.node health --host "tcp://$(node_ip "$n"):2376" --cert-path "$WORK/ca/client" \
        || { docker exec "$(node_name "$n")" tail -20 /var/log/celld.log >&2; die "celld of node$n"; }
done
t_nodes=$((SECONDS - t0 - t_images))
say "$NODES nodes, each a swarm dockerd and a celld (${t_nodes}s)"

# images: the Hub image into each swarm dockerd, the cell image into each celld
t1=$SECONDS
docker save -o "$WORK/cells.tar" "$CELL_IMAGE"
hosts=()
for n in $(seq 1 "$NODES"); do hosts+=(--host "tcp://$(node_ip "$n"):2376"); done
"$PY" -m dockerkernel images load "$WORK/cells.tar" "${hosts[@]}" --cert-path "$WORK/ca/client" >&2 &
loader=$!
# shellcheck disable=SC2046
load_image "$HUB_IMAGE" $(seq 1 "$NODES")
wait "$loader" || die "loading $CELL_IMAGE into the cellds failed"
t_load=$((SECONDS - t1))
say "images loaded (${t_load}s)"

t2=$SECONDS
ndocker 1 swarm init --advertise-addr "$(node_ip 1)" --default-addr-pool "$POOL" --dispatcher-heartbeat 2s >/dev/null
jtoken=$(ndocker 1 swarm join-token -q worker)
for n in $(seq 2 "$NODES"); do
    ndocker "$n" swarm join --advertise-addr "$(node_ip "$n")" --token "$jtoken" "$(node_ip 1):2377" >/dev/null
done
for _ in $(seq 1 60); do
    ready=$(ndocker 1 node ls --format '{{.Status}}' | grep -c Ready || true)
    [ "$ready" = "$NODES" ] && break
    sleep 0.5
done
[ "$ready" = "$NODES" ] || die "only $ready of $NODES swarm nodes Ready"
t_swarm=$((SECONDS - t2))
say "swarm of $NODES nodes (${t_swarm}s)"

ndocker 1 network create -d overlay --attachable dkhub >/dev/null
for f in ca cert key; do
    docker exec -i "$(node_name 1)" docker secret create "dk-$f" - <"$WORK/ca/client/$f.pem" >/dev/null
done
node_hosts=$(for n in $(seq 1 "$NODES"); do printf '"node%s": "%s",' "$n" "$(node_ip "$n")"; done)
ndocker 1 service create -d --name jupyterhub --endpoint-mode dnsrr --network dkhub \
    --constraint node.hostname==node1 --publish mode=host,target=8000,published=8000 \
    --mount type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock \
    --mount type=bind,src=/opt/dockerkernel/examples/swarm/jupyterhub_config.py,dst=/srv/jupyterhub/jupyterhub_config.py,ro \
    --user root --workdir /srv/jupyterhub --no-resolve-image \
    -e DOCKER_HOST=unix:///var/run/docker.sock -e DOCKER_TLS_VERIFY= -e DOCKER_CERT_PATH= \
    -e DK_SINGLEUSER_IMAGE="$hub_id" -e DK_NETWORK=dkhub -e DK_HUB_NAME=jupyterhub \
    -e DK_NODE_HOSTS="{${node_hosts%,}}" -e DK_API_TOKEN="$token" -e DK_DEV_SOURCE=/opt/dockerkernel \
    "$hub_id" jupyterhub -f /srv/jupyterhub/jupyterhub_config.py >/dev/null
for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$hubport/hub/api" 2>/dev/null && break
    sleep 1
done
curl -fsS -o /dev/null "http://127.0.0.1:$hubport/hub/api" || {
    ndocker 1 service logs jupyterhub 2>&1 | tail -30 >&2; die "the Hub does not answer on 127.0.0.1:$hubport"; }
t_hub=$((SECONDS - t2 - t_swarm))
say "Hub answers on 127.0.0.1:$hubport (${t_hub}s)"

peak=$WORK/mem-peak
( while kill -0 $$ 2>/dev/null && sleep 3; do  # ends with this script, however it ends
    docker stats --no-stream --format '{{.MemUsage}}' $(docker ps -q --filter "label=dkscale.run=$RUN") 2>/dev/null \
      | "$PY" -c 'import re,sys
units = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
total = 0
for line in sys.stdin:
    m = re.match(r"([\d.]+)(\w+)", line)
    if m: total += float(m.group(1)) * units.get(m.group(2), 1)
print(int(total))' >>"$peak"
  done ) &
sampler=$!

set +e
"$PY" "$here/drive.py" --hub "http://127.0.0.1:$hubport" --token "$token" --prefix "$PFX" --nodes "$NODES" \
    --users "$USERS" >"$WORK/summary.json"
status=$?
set -e
kill "$sampler" 2>/dev/null || true
if [ "$status" != 0 ]; then
    ndocker 1 service logs jupyterhub 2>&1 | tail -40 >&2 || true
fi
summary=$(tail -1 "$WORK/summary.json")
mem_peak=$(sort -n "$peak" 2>/dev/null | tail -1)

# teardown now, so the table can report the host's leftovers
trap - EXIT
teardown
host_left=${LEFTOVERS:-?}

"$PY" - "$summary" "${mem_peak:-0}" "$host_left" "$t_images" "$t_nodes" "$t_load" "$t_swarm" "$t_hub" "$SECONDS" <<'PYEOF'
import json, sys
s = json.loads(sys.argv[1]); mem, host_left = int(sys.argv[2]), sys.argv[3]
t_images, t_nodes, t_load, t_swarm, t_hub, total = sys.argv[4:10]
print()
print("dockerkernel scale-out test (Docker Swarm, 3 nested nodes, a celld per node)")
if "failed" in s:
    print(f"  FAILED: {s['failed']}")
else:
    per = s["cells_per_node"]
    rows = [
        ("users", s["users"]),
        ("nodes used by servers", len({n for n, c in per.items() if c})),
        ("cell containers per node (celld events)", ", ".join(f"{n}: {c}" for n, c in sorted(per.items()))),
        ("servers ready after spawn (s)", s["spawn_s"]),
        ("node stopped mid-cell", f"{s['failed_node']} (users {', '.join(s['moved_users'])})"),
        ("failover time after the node stop (s)", s["failover_s"]),
        ("leftovers on surviving nodes", s["leftovers_nodes"]),
        ("leftovers on the host after teardown", host_left),
    ]
    for name, value in rows:
        print(f"  {name:<40} {value}")
print(f"  {'memory peak of the node containers':<40} {mem / 2**30:.2f} GiB")
print(f"  {'timings (s)':<40} images {t_images}, nodes+cellds {t_nodes}, loads {t_load}, swarm {t_swarm}, "
      f"hub {t_hub}, total {total}")
sys.exit(1 if "failed" in s or host_left != "0" else 0)
PYEOF
