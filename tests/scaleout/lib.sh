#!/bin/bash
# Shared pieces of the scale-out scripts (sourced, not run): node containers from the
# dockerkernel/dind image on a bridge network this run creates, each running its own dockerd,
# and a teardown that removes everything the run made (containers, network, volumes, the
# host cgroup directories the nested daemons create) — also when the run fails.
#
# Everything a run creates carries the label dkscale.run=$RUN and the name prefix $PFX.
# The host daemon's swarm state is never touched: every `swarm` command runs inside a node.

RUN=${RUN:-$(date +%s)-$$}
PFX=${DKSCALE_PREFIX:-dkswarm}-$RUN
DIND_IMAGE=${DKSCALE_DIND_IMAGE:-dockerkernel/dind}
NODES=${DKSCALE_NODES:-3}
NET=$PFX-net
POOL=${DKSCALE_ADDR_POOL:-10.213.0.0/16}
WORK=$(mktemp -d "/tmp/$PFX.XXXX")

say() { printf '%s [%5ss] %s\n' "$(date -u +%H:%M:%S)" "$SECONDS" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

# A /24 for the test bridge that no existing host network uses (never 10/8: the swarm pool).
pick_subnet() {
    local used n
    used=$(docker network ls -q | xargs docker network inspect \
        --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr ' ' '\n')
    for n in 213 214 215 216 217 218 219; do
        if ! grep -q "^192\.168\.$n\." <<<"$used"; then
            echo "192.168.$n"
            return
        fi
    done
    die "no free 192.168.21x.0/24 subnet for the test bridge"
}

node_name() { echo "$PFX-node$1"; }
node_ip() { echo "$SUBNET.$((10 + $1))"; }

# ndocker N ARGS...: the docker CLI inside node N, talking to that node's swarm dockerd.
ndocker() {
    local n=$1
    shift
    docker exec -i "$(node_name "$n")" docker "$@"
}

create_network() {
    SUBNET=$(pick_subnet)
    docker network create --label "dkscale.run=$RUN" --subnet "$SUBNET.0/24" "$NET" >/dev/null
    say "network $NET $SUBNET.0/24"
}

# start_node N: a node container with the project's unprivileged capability set (the one CI
# proves for one nested dockerd) running a plain dockerd on its unix socket, data-root on a
# labelled volume (overlay2 cannot sit on overlay2), containers under its own cgroup parent.
# Extra `docker run` arguments after N (volumes, ports) go before the image.
start_node() {
    local n=$1 name
    shift
    name=$(node_name "$n")
    docker volume create --label "dkscale.run=$RUN" "$name-lib" >/dev/null
    docker run -d --name "$name" --hostname "node$n" --label "dkscale.run=$RUN" \
        --network "$NET" --ip "$(node_ip "$n")" \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        -v "$name-lib:/var/lib/docker" \
        --memory "${DKSCALE_NODE_MEMORY:-3g}" \
        -e DOCKER_HOST=unix:///var/run/docker.sock -e DOCKER_TLS_VERIFY= -e DOCKER_CERT_PATH= \
        "$@" \
        --entrypoint dockerd "$DIND_IMAGE" \
        --host unix:///var/run/docker.sock --cgroup-parent "/$name" \
        --log-level warn >/dev/null
}

wait_node() {
    local n=$1 i
    for i in $(seq 1 240); do
        if ndocker "$n" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    docker logs --tail 30 "$(node_name "$n")" >&2 || true
    die "node$n: dockerd did not answer within 120 s"
}

# load_image IMAGE N...: docker save once, docker load into each node's swarm daemon.
load_image() {
    local image=$1 tar n pid pids=()
    shift
    tar="$WORK/$(echo "$image" | tr '/:' '__').tar"
    [ -s "$tar" ] || docker save -o "$tar" "$image"
    for n in "$@"; do
        ndocker "$n" load -q <"$tar" >/dev/null &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "docker load of $image into a node failed"; done
}

# Everything this run made on the host, removed depth-first; idempotent, never fails.
teardown() {
    local ids d
    set +e
    ids=$(docker ps -aq --filter "label=dkscale.run=$RUN")
    if [ -n "${KEEP:-}" ]; then
        say "KEEP set: leaving $PFX-* for inspection"
        return 0
    fi
    # shellcheck disable=SC2086
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
    docker network ls -q --filter "label=dkscale.run=$RUN" | xargs -r docker network rm >/dev/null 2>&1
    docker volume ls -q --filter "label=dkscale.run=$RUN" | xargs -r docker volume rm -f >/dev/null 2>&1
    # The nested daemons made cgroups at host-root paths named after their --cgroup-parent.
    for d in /sys/fs/cgroup/*/"$PFX"-*; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$WORK"
    leftovers
}

# leftovers: prints what of this run is still on the host (nothing, after teardown) and sets
# LEFTOVERS to the count.
leftovers() {
    local c v nw cg
    c=$(docker ps -aq --filter "label=dkscale.run=$RUN" | wc -l)
    v=$(docker volume ls -q --filter "label=dkscale.run=$RUN" | wc -l)
    nw=$(docker network ls -q --filter "label=dkscale.run=$RUN" | wc -l)
    cg=$(find /sys/fs/cgroup/ -maxdepth 2 -name "$PFX-*" -type d 2>/dev/null | wc -l)
    say "host leftovers of run $RUN: containers=$c volumes=$v networks=$nw cgroup_dirs=$cg"
    LEFTOVERS=$((c + v + nw + cg))
}
