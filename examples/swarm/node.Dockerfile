# A Swarm node for dockerkernel's scale-out test (tests/scaleout/): the nested daemon image
# plus python3, so `python3 -m dockerkernel.node celld` (stdlib + openssl only) can start the
# node's cell daemon next to its swarm dockerd. dockerkernel's source is bind-mounted read-only.
#   docker build -t dockerkernel/node -f examples/swarm/node.Dockerfile examples/swarm
ARG DIND_IMAGE=dockerkernel/dind
FROM ${DIND_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
