#!/bin/bash
# Entrypoint of the jupyter service (dind/jupyter/Dockerfile), running as uid 1000.
#
# 1. Wait until the nested daemon answers over mutual TLS (DOCKER_HOST, DOCKER_CERT_PATH).
# 2. `dockerkernel images build` against it: base + every kernel's language image, only what
#    is missing or changed (a restart with images in the /var/lib/docker volume takes seconds).
#    DOCKERKERNEL_BUILD_IMAGES=0 skips it; DOCKERKERNEL_LANGUAGES limits it ("python bash").
#    Progress goes to the container log: `docker-compose logs -f jupyter`.
# 3. JupyterLab with token authentication, always: JUPYTER_TOKEN, or a random token kept in
#    ~/.jupyter-token (survives restarts of this container; mode 0600). An empty
#    JUPYTER_TOKEN does not open the server: a token is generated instead.
#    The URL printed uses JUPYTER_PUBLIC_URL (set by docker-compose.yml to the host port).
# 4. Only the Docker kernels: no kernel and (unless JUPYTER_ENABLE_TERMINALS=1) no terminal
#    runs code in this container, which holds the nested daemon's client key.
set -euo pipefail

log() { echo "jupyter: $*"; }

PORT=${JUPYTER_PORT:-8888}
PUBLIC_URL=${JUPYTER_PUBLIC_URL:-http://127.0.0.1:$PORT}
TOKEN_FILE=${JUPYTER_TOKEN_FILE:-$HOME/.jupyter-token}
WAIT=${DOCKERKERNEL_DAEMON_WAIT:-300}

# ------------------------------------------------------------------ the nested daemon
log "waiting for the Docker daemon at $DOCKER_HOST (TLS, certificates in ${DOCKER_CERT_PATH:-?})"
python3 - "$WAIT" <<'EOF'
import sys, time
import docker

deadline = time.monotonic() + float(sys.argv[1])
last = None
while True:
    try:
        client = docker.from_env(timeout=10)
        version = client.version()
        print(f"jupyter: daemon answers: Docker {version.get('Version')}, "
              f"storage {client.info().get('Driver')}", flush=True)
        break
    except Exception as exc:  # noqa: BLE001 - certificates may not exist yet, etc.
        text = " ".join(str(exc).split())[:300]
        if text != last:
            print(f"jupyter: not yet: {text}", flush=True)
            last = text
        if time.monotonic() > deadline:
            print("jupyter: ERROR: the Docker daemon did not answer in time", file=sys.stderr)
            sys.exit(1)
        time.sleep(1)
EOF

if [ "${DOCKERKERNEL_BUILD_IMAGES:-1}" != 0 ]; then
    log "building the language images inside the nested daemon (what is missing or changed)"
    started=$(date +%s)
    # shellcheck disable=SC2086  # a space-separated list of languages
    if ! dockerkernel images build ${DOCKERKERNEL_LANGUAGES:-}; then
        log "ERROR: dockerkernel images build failed (see above); the container exits and is restarted"
        exit 1
    fi
    log "language images ready after $(( $(date +%s) - started )) s"
fi
dockerkernel images list || true

# ------------------------------------------------------------------ token
token=${JUPYTER_TOKEN:-}
if [ -z "$token" ]; then
    if [ -s "$TOKEN_FILE" ]; then
        token=$(cat "$TOKEN_FILE")
    else
        token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
        (umask 077 && printf '%s\n' "$token" >"$TOKEN_FILE")
    fi
fi
unset JUPYTER_TOKEN
terminals=False
if [ "${JUPYTER_ENABLE_TERMINALS:-0}" = 1 ]; then
    terminals=True
fi

log "JupyterLab: $PUBLIC_URL/lab?token=$token"
exec jupyter lab \
    --no-browser \
    --ip=0.0.0.0 \
    --port="$PORT" \
    --ServerApp.port_retries=0 \
    --ServerApp.root_dir="$HOME/notebooks" \
    --ServerApp.terminals_enabled="$terminals" \
    --KernelSpecManager.ensure_native_kernel=False \
    --IdentityProvider.token="$token" \
    --ServerApp.custom_display_url="$PUBLIC_URL/lab" \
    "$@"
