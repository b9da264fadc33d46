#!/usr/bin/env bash
# One entry point for a fresh machine (Debian bookworm, root or sudo-less root CI):
#   ./dev.sh lab     set everything up, then start JupyterLab here with the Docker kernels
#                    (the product's deployment, with a nested daemon, is dind/up.sh)
#   ./dev.sh test    set everything up, then run the whole test suite and the adversarial
#                    suite again under gVisor (with args: only `pytest ARGS`)
#   ./dev.sh setup   only the set-up: Docker daemon, virtualenv, images, kernelspecs
#   ./dev.sh bench   the benchmark (bench/bench.py; extra args go to it)
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}

setup() {
    bash scripts/ensure-docker.sh
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[test$1]"
    # builds only what is missing or changed (base layer first, then each language)
    "$VENV/bin/dockerkernel" images build
    "$VENV/bin/dockerkernel" install --sys-prefix
}

e2e_prerequisites() {
    # the browser and compose tests (tests/e2e): Debian's chromium driven by playwright (the
    # Python package only: never `playwright install`), docker-compose, openssl
    local need=()
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
    [ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
    command -v openssl >/dev/null 2>&1 || need+=(openssl)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    "$VENV/bin/python" -c 'import playwright' 2>/dev/null || "$VENV/bin/pip" install -q playwright
    # nothing about CAs here: dind/up.sh trusts this host's CA bundle by itself, so the
    # end-to-end tests run the stack exactly as a newcomer does
}

command=${1:-}
shift || true
case "$command" in
    lab)
        setup ",lab"
        token=${JUPYTER_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}
        echo "JupyterLab: http://127.0.0.1:${PORT:-8888}/lab?token=$token"
        exec "$VENV/bin/jupyter" lab --no-browser --ip 127.0.0.1 --port "${PORT:-8888}" \
            --IdentityProvider.token="$token" --allow-root --notebook-dir examples "$@"
        ;;
    test)
        setup ""
        e2e_prerequisites
        bash scripts/ensure-runsc.sh
        export CI_ARTIFACTS=${CI_ARTIFACTS:-test-artifacts}
        "$VENV/bin/ruff" check dockerkernel tests  # one style ([tool.ruff] in pyproject.toml)
        if [ $# -gt 0 ]; then
            exec "$VENV/bin/python" -m pytest "$@"
        fi
        "$VENV/bin/python" -m pytest
        echo "dev.sh: the adversarial suite again, with cells under gVisor (runtime=runsc)"
        DOCKERKERNEL_TEST_RUNTIME=runsc exec "$VENV/bin/python" -m pytest tests/adversarial
        ;;
    setup)
        setup ""
        ;;
    bench)
        setup ""
        exec "$VENV/bin/python" bench/bench.py "$@"
        ;;
    *)
        sed -n '2,8p' "$0"
        exit 2
        ;;
esac
