#!/usr/bin/env bash
# End-to-end tests of the compose stack (tests/e2e), as CI runs them.
#
#   bash dind/ci-e2e.sh [pytest args]
#
# Needs: a Docker daemon (scripts/ensure-docker.sh starts one), .venv with the package
# (./dev.sh setup), docker-compose, Debian's chromium and playwright in .venv (installed here
# when missing; never `playwright install`: the browser is Debian's). The stack is brought up
# by the tests themselves (dind/up.sh, compose project dockerkernel-e2e, free ports) and taken
# down with `dind/down.sh -v` at the end.
#
# Environment: DOCKERKERNEL_PRELOAD=1 loads the host's language images into the nested daemon
# instead of building them there (faster; skips the build-inside path). CI_ARTIFACTS: where
# logs and screenshots go (default test-artifacts; e2e/ below it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
start=$(date +%s)

bash scripts/ensure-docker.sh
[ -x "$VENV/bin/python" ] || { echo "ci-e2e: $VENV missing; run ./dev.sh setup first" >&2; exit 1; }

need=()
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    echo "ci-e2e: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
fi
if ! "$VENV/bin/python" -c 'import playwright' 2>/dev/null; then
    echo "ci-e2e: installing playwright into $VENV (the Python package only; the browser is Debian's)"
    "$VENV/bin/pip" install -q playwright
fi

# Behind a TLS-inspecting proxy pip inside the jupyter image build needs the machine's CA
# bundle (DESIGN.md §6); harmless elsewhere.
if [ -z "${DOCKERKERNEL_STACK_CA:-}" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
    export DOCKERKERNEL_STACK_CA=/etc/ssl/certs/ca-certificates.crt
fi
export CI_ARTIFACTS=${CI_ARTIFACTS:-test-artifacts}
mkdir -p "$CI_ARTIFACTS/e2e"

echo "ci-e2e: preparation took $(( $(date +%s) - start )) s; running tests/e2e (preload=${DOCKERKERNEL_PRELOAD:-0})"
status=0
"$VENV/bin/python" -m pytest tests/e2e -v -ra "$@" || status=$?
echo "ci-e2e: screenshots and logs in $CI_ARTIFACTS/e2e/; total $(( $(date +%s) - start )) s"
exit "$status"
