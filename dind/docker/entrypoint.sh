#!/bin/bash
# Entrypoint of the nested Docker daemon (dind/docker/Dockerfile).
#
# 1. Certificates for mutual TLS, on first start (openssl, EC P-256):
#      /certs/ca/{cert.pem,key.pem}          the CA (volume; the key never leaves this container)
#      /certs/server/{ca,cert,key}.pem       dockerd's server certificate (re-issued every start)
#      /certs/client/{ca,cert,key}.pem       the client certificate (volume shared with jupyter,
#                                            owned by DIND_CLIENT_UID so a non-root client reads it)
#    A client certificate not signed by the current CA is re-issued.
# 2. The storage driver: DIND_STORAGE_DRIVER, else what /var/lib/docker already holds, else
#    overlay2 if an overlay mount works here, else fuse-overlayfs (needs /dev/fuse), else vfs.
# 3. dockerd on tcp://0.0.0.0:2376 with --tlsverify only: no 2375, no unix socket, no plaintext.
#    Nested containers go under the cgroup DIND_CGROUP_PARENT (default /dind).
#    runsc (gVisor) is registered as a runtime when installed (DIND_RUNSC=0 to skip).
# 4. debian:bookworm-slim is imported into the nested daemon when missing there (from the
#    snapshot baked into this image), so images build inside with no registry.
# 5. /run/dind-ready is written last; the health check wants it and a TLS `docker version`.
#
# Extra dockerd flags: DOCKERD_EXTRA_ARGS, or arguments to this script.
set -euo pipefail

log() { echo "dind: $*"; }
die() { echo "dind: ERROR: $*" >&2; exit 1; }

CERTS=${DOCKER_TLS_CERTDIR:-/certs}
CLIENT_UID=${DIND_CLIENT_UID:-1000}
CLIENT_GID=${DIND_CLIENT_GID:-$CLIENT_UID}
CGROUP_PARENT=${DIND_CGROUP_PARENT:-/dind}
PORT=2376
READY=/run/dind-ready
SEED=/usr/share/dind/base-os.tar.gz
SEED_TAG=${DIND_SEED_TAG:-debian:bookworm-slim}

rm -f "$READY"

# ------------------------------------------------------------------ certificates

# subjectAltName for the server: the compose service name, this container, loopback
# (the port is published on the host's 127.0.0.1), and DIND_TLS_SAN (comma-separated,
# e.g. "DNS:dind.example.org,IP:10.0.0.5") for remote clients.
server_sans() {
    local sans="DNS:docker,DNS:localhost,DNS:$(hostname),IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"
    local ip
    for ip in $(hostname -i 2>/dev/null || true); do
        case "$ip" in
            *:*) ;;  # link-local IPv6 and friends: not useful in a SAN
            *) sans="$sans,IP:$ip" ;;
        esac
    done
    if [ -n "${DIND_TLS_SAN:-}" ]; then
        sans="$sans,${DIND_TLS_SAN}"
    fi
    echo "$sans"
}

# issue DIR CN EXTENDED_KEY_USAGE [SANS]: key + certificate signed by the CA, plus ca.pem.
issue() {
    local dir=$1 cn=$2 eku=$3 sans=${4:-}
    local ext
    ext=$(mktemp)
    {
        echo "basicConstraints = critical,CA:FALSE"
        echo "keyUsage = critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage = $eku"
        if [ -n "$sans" ]; then echo "subjectAltName = $sans"; fi
    } >"$ext"
    rm -f "$dir"/key.pem "$dir"/cert.pem "$dir"/csr.pem "$dir"/ca.pem
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.pem" 2>/dev/null
    openssl req -new -key "$dir/key.pem" -subj "/CN=$cn" -out "$dir/csr.pem"
    openssl x509 -req -in "$dir/csr.pem" -CA "$CERTS/ca/cert.pem" -CAkey "$CERTS/ca/key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$ext" \
        -out "$dir/cert.pem" 2>/dev/null
    cp "$CERTS/ca/cert.pem" "$dir/ca.pem"
    rm -f "$dir/csr.pem" "$ext"
}

signed_by_ca() {
    [ -s "$1/cert.pem" ] && [ -s "$1/key.pem" ] && [ -s "$1/ca.pem" ] \
        && cmp -s "$1/ca.pem" "$CERTS/ca/cert.pem" \
        && openssl verify -CAfile "$CERTS/ca/cert.pem" "$1/cert.pem" >/dev/null 2>&1
}

setup_certs() {
    umask 077
    mkdir -p "$CERTS/ca" "$CERTS/server" "$CERTS/client"
    if [ ! -s "$CERTS/ca/cert.pem" ] || [ ! -s "$CERTS/ca/key.pem" ]; then
        log "generating a new CA in $CERTS/ca"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/ca/key.pem" 2>/dev/null
        openssl req -new -x509 -key "$CERTS/ca/key.pem" -sha256 -days 3650 \
            -subj "/CN=dockerkernel nested daemon CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$CERTS/ca/cert.pem"
    fi
    # The server certificate lives in this container only and is re-issued at every start,
    # so its names always match the current hostname/IPs and DIND_TLS_SAN.
    issue "$CERTS/server" docker serverAuth "$(server_sans)"
    if signed_by_ca "$CERTS/client"; then
        log "client certificate in $CERTS/client is current"
    else
        log "issuing the client certificate in $CERTS/client"
        issue "$CERTS/client" "dockerkernel client" clientAuth
    fi
    # A non-root client (the jupyter user) must read the client key; nobody else may.
    chown "$CLIENT_UID:$CLIENT_GID" "$CERTS/client" "$CERTS/client"/*.pem
    chmod 0755 "$CERTS/client"
    chmod 0444 "$CERTS/client/ca.pem" "$CERTS/client/cert.pem"
    chmod 0400 "$CERTS/client/key.pem"
    umask 022
}

# ------------------------------------------------------------------ kernel plumbing

prepare_mounts() {
    # As the upstream docker:dind script does: securityfs for AppArmor checks, a real /tmp.
    if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
        mount -t securityfs none /sys/kernel/security 2>/dev/null \
            || log "could not mount securityfs (fine unless AppArmor is wanted)"
    fi
    if ! mountpoint -q /tmp; then
        mount -t tmpfs none /tmp 2>/dev/null || true
    fi
    # cgroup v2 with a private cgroup namespace: move ourselves out of the root cgroup and
    # delegate the controllers, or dockerd cannot create child cgroups ("no internal
    # processes" rule). cgroup v1 (this project's CI hosts) needs nothing here.
    if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -w /sys/fs/cgroup/cgroup.subtree_control ]; then
        mkdir -p /sys/fs/cgroup/init
        xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
        sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
            >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    fi
}

overlay_works() {
    local d
    d=$(mktemp -d /var/lib/docker/.overlay-probe.XXXXXX) || return 1
    mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
    echo probe >"$d/lower/file"
    if mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>/dev/null; then
        local ok=1
        echo changed >"$d/merged/file" 2>/dev/null || ok=0
        umount "$d/merged" 2>/dev/null || true
        rm -rf "$d"
        [ "$ok" = 1 ]
        return
    fi
    rm -rf "$d"
    return 1
}

choose_storage_driver() {
    if [ -n "${DIND_STORAGE_DRIVER:-}" ]; then
        echo "$DIND_STORAGE_DRIVER"
        return
    fi
    local d
    for d in overlay2 fuse-overlayfs vfs; do
        # The volume already holds images of this driver: keep it (switching hides them).
        if [ -d "/var/lib/docker/$d" ] && [ -n "$(ls -A "/var/lib/docker/$d" 2>/dev/null | grep -v '^l$' || true)" ]; then
            echo "$d"
            return
        fi
    done
    if overlay_works; then
        echo overlay2
    elif [ -c /dev/fuse ] && command -v fuse-overlayfs >/dev/null; then
        echo fuse-overlayfs
    else
        echo vfs
    fi
}

write_daemon_json() {
    mkdir -p /etc/docker
    if [ "${DIND_RUNSC:-1}" = 1 ] && [ -x /usr/bin/runsc ]; then
        # gVisor as an extra runtime (selected by the kernel's `runtime` traitlet). Its own
        # netstack is not wired to Docker's networks here, so cells run with network none.
        cat >/etc/docker/daemon.json <<'EOF'
{
  "runtimes": {
    "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}
  }
}
EOF
        log "runtime runsc (gVisor) registered"
    else
        echo '{}' >/etc/docker/daemon.json
    fi
}

# ------------------------------------------------------------------ main

mkdir -p /var/lib/docker
setup_certs
prepare_mounts
write_daemon_json
driver=$(choose_storage_driver)
log "storage driver: $driver"

# Stale pid files from an unclean stop would make dockerd/containerd refuse to start.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid

# shellcheck disable=SC2086  # DOCKERD_EXTRA_ARGS is a list of flags
dockerd \
    --host="tcp://0.0.0.0:$PORT" \
    --tlsverify \
    --tlscacert="$CERTS/server/ca.pem" \
    --tlscert="$CERTS/server/cert.pem" \
    --tlskey="$CERTS/server/key.pem" \
    --cgroup-parent="$CGROUP_PARENT" \
    --storage-driver="$driver" \
    ${DOCKERD_EXTRA_ARGS:-} "$@" &
dockerd_pid=$!

stop() {
    log "stopping dockerd"
    kill -TERM "$dockerd_pid" 2>/dev/null || true
}
trap stop TERM INT

# The docker CLI here uses DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH (Dockerfile ENV).
for _ in $(seq 1 120); do
    if docker version >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        wait "$dockerd_pid" || true
        die "dockerd exited during start-up (see the lines above)"
    fi
    sleep 0.5
done
docker version >/dev/null 2>&1 || die "dockerd did not answer on tcp://127.0.0.1:$PORT within 60 s"
log "dockerd answers on tcp://0.0.0.0:$PORT (mutual TLS)"

if ! docker image inspect "$SEED_TAG" >/dev/null 2>&1 && [ -s "$SEED" ]; then
    log "importing $SEED_TAG into the nested daemon (the Debian this image was built from)"
    docker import --change 'CMD ["bash"]' "$SEED" "$SEED_TAG" >/dev/null
fi
touch "$READY"
log "ready"

# Wait for dockerd; a TERM/INT interrupts `wait`, stop() forwards it, then wait again.
status=0
while kill -0 "$dockerd_pid" 2>/dev/null; do
    wait "$dockerd_pid" || status=$?
done
rm -f "$READY"
exit "$status"
