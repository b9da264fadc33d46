#!/bin/sh
# Healthy = the entrypoint finished its start-up (certificates, base image seeded) and the
# daemon answers a real mutual-TLS request with the client certificate.
[ -e /run/dind-ready ] || exit 1
exec docker version --format '{{.Server.Version}}' >/dev/null
