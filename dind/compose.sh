# Sourced by dind/up.sh and dind/down.sh: sets the array COMPOSE to the compose command.
# Debian's docker-compose (1.29) or the Compose v2 plugin (`docker compose`), whichever is
# there; on a Debian machine with neither, as root, installs Debian's docker-compose.
compose_detect() {
    if command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    elif docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "compose: installing Debian's docker-compose" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose >&2; } \
            || return 1
        COMPOSE=(docker-compose)
    else
        return 1
    fi
    # Explicit file: the unprivileged override is added with -f by up.sh when needed.
    COMPOSE+=(-f docker-compose.yml)
}
