# JupyterHub on Docker Swarm for dockerkernel (examples/swarm/README.md; tested by
# tests/scaleout/run.sh). The Hub runs as a Swarm service on a manager node; every user's
# server is a Swarm service started by dockerspawner's SwarmSpawner, placed and rescheduled by
# Swarm. Cells never become Swarm objects: each user's kernels talk to the cell daemon (celld)
# of the node their server runs on, `tcp://{{.Node.Hostname}}:2376`, a Swarm template that
# Swarm fills in again for every task, so a rescheduled server reaches its new node's celld.
#
# Settings come from the Hub service's environment (the stack file, or the test):
#   DK_SINGLEUSER_IMAGE   the single-user image BY ID (sha256:...): no node ever tries to pull
#   DK_NETWORK            the attachable overlay network of the Hub and the servers
#   DK_HUB_NAME           the Hub's service name on that network (servers call the Hub API there)
#   DK_CELLD_PORT         the cellds' port (2376)
#   DK_CERT_SECRETS       Swarm secret names of the cellds' client certificate: "CA,CERT,KEY"
#   DK_NODE_HOSTS         optional JSON {"node1": "192.168.213.11", ...}: node names into the
#                         servers' /etc/hosts where the site's DNS does not resolve them
#   DK_API_TOKEN          optional token of an admin service (the test drives the Hub's REST API)
#   DK_SPAWN_TIMEOUT      seconds a server may take to start (default 180)
#   DK_DEV_SOURCE         tests only: a directory on every node holding a dockerkernel checkout,
#                         mounted read-only into the servers and put first on their PYTHONPATH
import json
import os

import docker
from docker.types import RestartPolicy, SecretReference

c = get_config()  # noqa: F821  (JupyterHub's config loader provides it)
env = os.environ.get

c.JupyterHub.spawner_class = "dockerspawner.SwarmSpawner"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = env("DK_HUB_NAME", "jupyterhub")
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.cleanup_servers = True  # the Hub's own shutdown stops the servers' services

# Authentication: a real site sets its authenticator here (OAuthenticator, LDAP, ...).
c.JupyterHub.authenticator_class = env("DK_AUTHENTICATOR", "dummy")
c.Authenticator.allow_all = True

token = env("DK_API_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "dockerkernel-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{
        "name": "dockerkernel-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users", "list:users"],
        "services": ["dockerkernel-admin"],
    }]

# ---- the servers: Swarm services on the overlay, reached by their service name (dnsrr) ----
c.SwarmSpawner.image = env("DK_SINGLEUSER_IMAGE", "dockerkernel/hub:latest")
c.SwarmSpawner.pull_policy = "skip"  # images reach nodes by `docker load`, never a registry
c.SwarmSpawner.network_name = env("DK_NETWORK", "dkhub")
c.SwarmSpawner.use_internal_ip = True  # the proxy reaches jupyter-<user> over the overlay
# No IPVS on some kernels (and never needed here): DNS round robin, no virtual IP.
c.SwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
# Rescheduled quickly when the node dies (Swarm's default waits 5 s between restarts).
c.SwarmSpawner.extra_task_spec = {"restart_policy": RestartPolicy(condition="any", delay=1_000_000_000)}
c.Spawner.start_timeout = int(env("DK_SPAWN_TIMEOUT", "180"))
c.Spawner.http_timeout = int(env("DK_SPAWN_TIMEOUT", "180"))
c.Spawner.default_url = "/lab"
# Only the Docker kernels exist in the image; terminals would be a shell next to the client key.
c.Spawner.args = ["--ServerApp.terminals_enabled=False"]
c.Spawner.mem_limit = env("DK_SERVER_MEMORY", "1G")  # the server itself; cells are limited per cell

port = env("DK_CELLD_PORT", "2376")
c.SwarmSpawner.environment = {
    # a Swarm template: the name of the node this task runs on, filled in for every task
    "DOCKER_HOST": "tcp://{{.Node.Hostname}}:" + port,
    "DOCKER_TLS_VERIFY": "1",
    "DOCKER_CERT_PATH": "/run/secrets",
    "DOCKERKERNEL_BUILD_IMAGES": "0",
}

# The server's hostname is its service's name (jupyter-<user>), a Swarm template: every cell
# container carries it as its dockerkernel.host label, so a celld's own event log says whose
# server (and so which user) started each cell.
container_spec: dict = {"hostname": "{{.Service.Name}}"}
dev_source = env("DK_DEV_SOURCE")
if dev_source:
    c.SwarmSpawner.volumes = {dev_source: {"bind": "/opt/dockerkernel-dev", "mode": "ro"}}
    c.SwarmSpawner.environment["PYTHONPATH"] = "/opt/dockerkernel-dev"
hosts = json.loads(env("DK_NODE_HOSTS", "") or "{}")
if hosts:
    container_spec["hosts"] = hosts
secret_names = [s for s in env("DK_CERT_SECRETS", "dk-ca,dk-cert,dk-key").split(",") if s]
if secret_names:
    # The client certificate of the cellds as Swarm secrets, readable by the server's user only.
    manager = docker.from_env()
    files = ["ca.pem", "cert.pem", "key.pem"]
    container_spec["secrets"] = [
        SecretReference(manager.secrets.get(name).id, name, filename=filename, uid="1000", gid="1000",
                        mode=0o400 if filename == "key.pem" else 0o444)
        for name, filename in zip(secret_names, files)
    ]
c.SwarmSpawner.extra_container_spec = container_spec
