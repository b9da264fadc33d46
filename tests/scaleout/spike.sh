#!/bin/bash
# The scale-out spike (issue 17, step 0): does a Docker Swarm overlay work between nested
# nodes on this host?
#
#   tests/scaleout/spike.sh          (about 1-2 minutes with dockerkernel/dind and /base built)
#
# Three node containers on a bridge this script creates, each running a dockerd;
# `swarm init` inside node1, nodes 2 and 3 join; an attachable overlay; a service of
# dockerkernel/base by image ID with endpoint_mode=dnsrr and two replicas on different nodes,
# each serving HTTP; each replica fetches a page from the other across the VXLAN overlay.
# Prints the timings; removes everything it created (trap), also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
trap teardown EXIT
trap 'exit 130' INT TERM

BASE=${DKSCALE_BASE_IMAGE:-dockerkernel/base}
base_id=$(docker image inspect -f '{{.Id}}' "$BASE") || die "$BASE is not on the host daemon"
docker image inspect "$DIND_IMAGE" >/dev/null || die "$DIND_IMAGE is not on the host daemon"

t0=$SECONDS
create_network
for n in $(seq 1 "$NODES"); do start_node "$n"; done
for n in $(seq 1 "$NODES"); do wait_node "$n"; done
t_nodes=$((SECONDS - t0))
say "$NODES nested dockerds answer (${t_nodes}s)"

all=$(seq 1 "$NODES")
# shellcheck disable=SC2086
load_image "$BASE" $all
t_load=$((SECONDS - t0 - t_nodes))
say "$BASE loaded into every node (${t_load}s)"

t1=$SECONDS
ndocker 1 swarm init --advertise-addr "$(node_ip 1)" --default-addr-pool "$POOL" \
    --dispatcher-heartbeat 2s >/dev/null
token=$(ndocker 1 swarm join-token -q worker)
for n in $(seq 2 "$NODES"); do
    ndocker "$n" swarm join --advertise-addr "$(node_ip "$n")" --token "$token" "$(node_ip 1):2377" >/dev/null
done
for _ in $(seq 1 60); do
    ready=$(ndocker 1 node ls --format '{{.Status}}' | grep -c Ready || true)
    [ "$ready" = "$NODES" ] && break
    sleep 0.5
done
[ "$ready" = "$NODES" ] || die "only $ready of $NODES swarm nodes Ready"
t_swarm=$((SECONDS - t1))
say "swarm of $NODES nodes Ready (${t_swarm}s)"

t2=$SECONDS
ndocker 1 network create -d overlay --attachable spike >/dev/null
# By image ID: the swarm executor skips its registry pull for IDs (no registry here).
ndocker 1 service create -d --name echo --endpoint-mode dnsrr --replicas 2 \
    --replicas-max-per-node 1 --network spike --no-resolve-image \
    "$base_id" python3 -m http.server 8000 >/dev/null
for _ in $(seq 1 120); do
    running=$(ndocker 1 service ps echo --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true)
    [ "$running" = 2 ] && break
    sleep 0.5
done
ndocker 1 service ps --no-trunc echo >&2
[ "$running" = 2 ] || die "the echo service has $running of 2 replicas running"
t_service=$((SECONDS - t2))
mapfile -t placed < <(ndocker 1 service ps echo --filter desired-state=running --format '{{.Node}}')
[ "${placed[0]}" != "${placed[1]}" ] || die "both replicas on ${placed[0]}"
say "echo: 2 replicas on ${placed[*]} (${t_service}s)"

# Each replica fetches from the other's overlay address (dnsrr: tasks.echo = both IPs).
fetch='import socket, sys, urllib.request
me = set(socket.gethostbyname_ex(socket.gethostname())[2])
peers = sorted(set(socket.gethostbyname_ex("echo")[2]) - me)
assert peers, "echo resolves to no other replica"
for ip in peers:
    code = urllib.request.urlopen("http://%s:8000/" % ip, timeout=10).status
    print("%s -> %s HTTP %d" % (sorted(me), ip, code))
'
t3=$SECONDS
for node in "${placed[@]}"; do
    n=${node#node}
    cid=$(ndocker "$n" ps -q --filter label=com.docker.swarm.service.name=echo | head -1)
    ndocker "$n" exec "$cid" python3 -c "$fetch" || die "HTTP across the overlay from $node failed"
done
t_http=$((SECONDS - t3))
gw=$(ndocker 2 network ls --format '{{.Name}}' | grep -c docker_gwbridge || true)

echo
echo "spike result: overlay works between nested nodes"
printf '  %-34s %s\n' "nodes up (3 dockerds)" "${t_nodes}s" \
    "image load (base, parallel)" "${t_load}s" \
    "swarm formed (init + joins + Ready)" "${t_swarm}s" \
    "dnsrr service, 2 replicas running" "${t_service}s" \
    "cross-node HTTP both ways" "${t_http}s" \
    "docker_gwbridge on node2" "$gw" \
    "total" "$((SECONDS - t0))s"
mem=$(docker stats --no-stream --format '{{.MemUsage}}' $(docker ps -q --filter "label=dkscale.run=$RUN") | awk '{print $1}' | paste -sd' ')
echo "  node memory now: $mem"
