#!/usr/bin/env bash
# Bring up the dockerkernel stack (docker-compose.yml): a nested Docker daemon with mutual
# TLS + JupyterLab whose kernels run every cell on it. Prints the URL with its token.
#
#   dind/up.sh            build what changed, start, wait until JupyterLab answers
#
# On a fresh Debian machine (as root) it first starts a Docker daemon (scripts/ensure-docker.sh)
# and installs docker-compose when neither it nor the Compose v2 plugin is there. Steps:
#   1. debian:bookworm-slim on the host daemon: pulled, or bootstrapped from Debian packages
#      (dockerkernel.images.ensure_base_os: debootstrap + docker import) with no registry;
#   2. privileged containers allowed? (a tiny privileged test container) If not, the
#      override docker-compose.unprivileged.yml is used (explicit capability set);
#   3. build the two stack images (sequentially), start the nested daemon, wait for health;
#   4. DOCKERKERNEL_PRELOAD=1: build the language images on the host daemon (if needed) and
#      `docker save | docker load` them into the nested daemon instead of building there;
#   5. start JupyterLab: on first start it builds the language images inside the nested
#      daemon (progress is shown here and in `docker-compose logs -f jupyter`);
#   6. wait until JupyterLab answers, print the URL with the token.
#
# Environment:
#   COMPOSE_PROJECT_NAME      compose project (default dockerkernel)
#   JUPYTER_PORT              host port of JupyterLab on 127.0.0.1 (default 8888)
#   DOCKERKERNEL_DOCKER_PORT  host port of the nested daemon (TLS) on 127.0.0.1 (default 2376)
#   JUPYTER_TOKEN             fixed token (default: random, kept by the container)
#   DOCKERKERNEL_LANGUAGES    languages to build in the nested daemon (default: all kernels')
#   DOCKERKERNEL_PRELOAD=1    load the host's language images instead of building inside
#   DOCKERKERNEL_PRIVILEGED   auto (default) | 1 | 0
#   DOCKERKERNEL_STACK_CA     PEM bundle the stack image builds trust (default: this host's CA
#                             bundle, so a TLS-inspecting proxy the host trusts works with no
#                             setting; "none": only Debian's CAs); copied to dind/extra-ca/stack-ca.crt
#   DOCKERKERNEL_NESTED_CA_BUNDLE  CA bundle (a path in the jupyter container) for the language
#                             image builds in the nested daemon (default: that container's store,
#                             which holds the stack bundle)
#   UP_TIMEOUT                seconds to wait for JupyterLab (default 3600)
#   UP_NO_BUILD=1             do not (re)build the stack images
#   UP_BUILD_ONLY=1           build the stack images (dockerkernel/dind, dockerkernel/jupyter), then stop
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-dockerkernel}
export JUPYTER_PORT=${JUPYTER_PORT:-8888}
export DOCKERKERNEL_DOCKER_PORT=${DOCKERKERNEL_DOCKER_PORT:-2376}
TIMEOUT=${UP_TIMEOUT:-3600}
PRELOAD=${DOCKERKERNEL_PRELOAD:-0}
BASE_OS_IMAGE=debian:bookworm-slim

say() { echo "up: $*"; }
die() { echo "up: ERROR: $*" >&2; exit 1; }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 )) s"; }

# ------------------------------------------------------------------ prerequisites
bash scripts/ensure-docker.sh

# shellcheck source=dind/compose.sh
. dind/compose.sh
compose_detect || die "neither docker-compose nor the Compose v2 plugin is available"
say "compose: ${COMPOSE[*]}"

# A Python that can import dockerkernel (for ensure_base_os and the preload build), found
# only when one is needed: this checkout's .venv when there is one, else the system python3
# with the checkout on PYTHONPATH (Debian's python3-docker is enough; installed when missing).
PY=()
need_python() {
    [ ${#PY[@]} -gt 0 ] && return 0
    if [ -x .venv/bin/python ] && .venv/bin/python -c 'import dockerkernel.images' 2>/dev/null; then
        PY=(.venv/bin/python); return 0
    fi
    if ! PYTHONPATH=$ROOT python3 -c 'import dockerkernel.images' 2>/dev/null \
            && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's python3-docker (the docker SDK, to bootstrap the base image)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-docker >/dev/null
    fi
    PYTHONPATH=$ROOT python3 -c 'import dockerkernel.images' 2>/dev/null \
        || die "no Python with the docker SDK: run ./dev.sh setup, or apt-get install python3-docker"
    PY=(env "PYTHONPATH=$ROOT" python3)
}

# ------------------------------------------------------------------ 1. the Debian base image
if ! docker image inspect "$BASE_OS_IMAGE" >/dev/null 2>&1; then
    say "$BASE_OS_IMAGE is missing on the host daemon: pulling it, or bootstrapping it from Debian packages"
    need_python
    "${PY[@]}" -c 'import docker; from dockerkernel.images import ensure_base_os; ensure_base_os(docker.from_env(timeout=600), progress=lambda s: print("up:", s, flush=True))'
fi

# ------------------------------------------------------------------ 2. trust, privileged or not
# The stack's builds (apt, pip) trust what this host trusts: its CA bundle, as ./dev.sh and
# `dockerkernel images build --ca-bundle` do. Behind a TLS-inspecting proxy that the host
# trusts, nothing needs to be set.
host_ca_bundle() {
    local candidate
    for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
            /etc/ssl/ca-bundle.pem /etc/ssl/cert.pem; do
        if [ -s "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    python3 -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")' 2>/dev/null
}
STACK_CA=${DOCKERKERNEL_STACK_CA:-$(host_ca_bundle)}
if [ -n "$STACK_CA" ] && [ "$STACK_CA" != none ]; then
    grep -q -- "-----BEGIN CERTIFICATE-----" "$STACK_CA" \
        || die "the CA bundle $STACK_CA holds no PEM certificate (set DOCKERKERNEL_STACK_CA to a PEM file, or to none)"
    if ! cmp -s "$STACK_CA" dind/extra-ca/stack-ca.crt; then
        cp "$STACK_CA" dind/extra-ca/stack-ca.crt
    fi
    say "stack image builds trust this host's CA bundle $STACK_CA"
    # the jupyter container's store then holds it too: the nested language builds use it
    export DOCKERKERNEL_NESTED_CA_BUNDLE=${DOCKERKERNEL_NESTED_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
else
    rm -f dind/extra-ca/stack-ca.crt  # a bundle copied by an earlier run must not hide the problem
    say "no CA bundle on this host: the stack image builds trust Debian's CAs only"
fi

case "${DOCKERKERNEL_PRIVILEGED:-auto}" in
    1) privileged=1 ;;
    0) privileged=0 ;;
    *)
        if docker run --rm --privileged --network none --log-driver none \
                --label dockerkernel.stack-probe=1 "$BASE_OS_IMAGE" true >/dev/null 2>&1; then
            privileged=1
        else
            privileged=0
        fi
        ;;
esac
if [ "$privileged" = 1 ]; then
    say "the nested daemon runs privileged"
else
    say "privileged containers are refused here: using docker-compose.unprivileged.yml (explicit capabilities)"
    COMPOSE+=(-f docker-compose.unprivileged.yml)
fi

# ------------------------------------------------------------------ 3. stack images, nested daemon
# explain_build_failure SERVICE LOG: say what failed and how to fix it, then stop
explain_build_failure() {
    local service=$1 log=$2 cause fix
    if grep -qiE 'CERTIFICATE_VERIFY_FAILED|certificate verify failed|self[- ]signed certificate|unable to get local issuer' "$log"; then
        cause="TLS verification failed: this network inspects TLS with a CA the build does not trust"
        fix="point DOCKERKERNEL_STACK_CA at a PEM bundle with that CA (e.g. your proxy's CA, or a bundle that holds it), or put it in dind/extra-ca/*.crt, then run dind/up.sh again (it used: ${STACK_CA:-no bundle})"
    elif grep -qiE 'Temporary failure resolving|Could not resolve|Name or service not known|Network is unreachable|Connection timed out' "$log"; then
        cause="the build could not reach the network (DNS or connection failure)"
        fix="check the host's network and proxy (HTTP_PROXY/HTTPS_PROXY are passed to docker-compose); a local mirror: PIP_INDEX_URL, DOCKERKERNEL_DEBIAN_MIRROR"
    elif grep -qiE 'No matching distribution|Could not find a version' "$log"; then
        cause="pip could not download the packages (no index answered with them)"
        fix="check that the Python package index is reachable from the build (or set PIP_INDEX_URL to a mirror), then run dind/up.sh again"
    elif grep -qiE 'no space left on device' "$log"; then
        cause="the host daemon's disk is full"
        fix="free space (docker image prune; docker builder prune) and run dind/up.sh again"
    else
        cause="see the build output above"
        fix="re-run the failing step to see it alone: ${COMPOSE[*]} build $service"
    fi
    echo "up: ERROR: building the $service stack image failed: $cause" >&2
    echo "up: fix: $fix" >&2
    rm -f "$log"
    exit 1
}

if [ "${UP_NO_BUILD:-0}" != 1 ]; then
    # One at a time (small machines); the layer cache makes an unchanged image a no-op.
    for service in docker jupyter; do
        say "building the $service image"
        build_log=$(mktemp)
        if ! "${COMPOSE[@]}" build "$service" 2>&1 | tee "$build_log"; then
            explain_build_failure "$service" "$build_log"
        fi
        rm -f "$build_log"
    done
    say "stack images built ($(elapsed))"
fi
if [ "${UP_BUILD_ONLY:-0}" = 1 ]; then
    exit 0  # the stack images only (tests/scaleout/run.sh builds on them)
fi

say "starting the nested daemon"
"${COMPOSE[@]}" up -d docker
docker_id=$("${COMPOSE[@]}" ps -q docker)

# wait_healthy SERVICE CONTAINER_ID SECONDS
wait_healthy() {
    local service=$1 id=$2 limit=$3 start status restarts
    start=$(date +%s)
    while :; do
        status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo gone)
        restarts=$(docker inspect -f '{{.RestartCount}}' "$id" 2>/dev/null || echo 0)
        case "$status" in
            healthy) return 0 ;;
            gone|exited|dead|unhealthy)
                docker logs --tail 60 "$id" >&2 2>&1 || true
                die "$service is $status" ;;
        esac
        if [ "$restarts" -gt 0 ]; then
            docker logs --tail 60 "$id" >&2 2>&1 || true
            die "$service exited and was restarted ($restarts time(s)); its log is above"
        fi
        if [ $(( $(date +%s) - start )) -gt "$limit" ]; then
            docker logs --tail 60 "$id" >&2 2>&1 || true
            die "$service did not become healthy within $limit s"
        fi
        sleep 1
    done
}
wait_healthy docker "$docker_id" 300
say "nested daemon healthy ($(elapsed))"

# ------------------------------------------------------------------ 4. optional preload
if [ "$PRELOAD" = 1 ]; then
    need_python
    # shellcheck disable=SC2086  # a list of languages
    langs=${DOCKERKERNEL_LANGUAGES:-$("${PY[@]}" -c 'from dockerkernel.languages import LANGUAGES; print(" ".join(LANGUAGES))')}
    say "preload: building missing/changed images on the host daemon: base $langs"
    # shellcheck disable=SC2086
    "${PY[@]}" -m dockerkernel.cli images build $langs
    images=("$BASE_OS_IMAGE" dockerkernel/base:latest)
    for lang in $langs; do images+=("dockerkernel/$lang:latest"); done
    say "preload: docker save | docker load into the nested daemon: ${images[*]}"
    docker save "${images[@]}" | docker exec -i "$docker_id" docker load
    say "preload done ($(elapsed))"
fi

# ------------------------------------------------------------------ 5. JupyterLab
say "starting JupyterLab; first start builds the language images inside the nested daemon"
since=$(date -u +%Y-%m-%dT%H:%M:%S)
"${COMPOSE[@]}" up -d
jupyter_id=$("${COMPOSE[@]}" ps -q jupyter)
# The log follower alone in the background (not a pipeline: `wait` would wait for all of it).
docker logs -f --since "$since" "$jupyter_id" > >(sed -u 's/^/  | /') 2>&1 &
logs_pid=$!
trap 'kill "$logs_pid" 2>/dev/null || true' EXIT
wait_healthy jupyter "$jupyter_id" "$TIMEOUT"
kill "$logs_pid" 2>/dev/null || true
wait "$logs_pid" 2>/dev/null || true

# ------------------------------------------------------------------ 6. the URL
project=""
if [ "$COMPOSE_PROJECT_NAME" != dockerkernel ]; then project="COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME "; fi
token=${JUPYTER_TOKEN:-}
if [ -z "$token" ]; then
    token=$(docker exec "$jupyter_id" cat /home/jupyter/.jupyter-token)
fi
say "ready after $(elapsed)"
echo
echo "  JupyterLab:  http://127.0.0.1:${JUPYTER_PORT}/lab?token=${token}"
echo "  stop:        ${project}dind/down.sh    (-v also deletes the volumes: nested images, certificates, notebooks)"
echo "  logs:        ${project}${COMPOSE[*]} logs -f"
echo
