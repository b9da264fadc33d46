"""JupyterHub with KubeSpawner for dockerkernel: each user's server talks to the celld of the
node it runs on (celld-daemonset.yaml). The pod it makes is the example Pod in that file,
which tests/unit/test_kubernetes_manifests.py checks against the Kubernetes schemas.
Not run on a cluster here (no Kubernetes distribution installs on these machines)."""

c = get_config()  # noqa: F821  (JupyterHub's config loader provides it)

c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = "dockerkernel"
c.KubeSpawner.image = "dockerkernel/hub:latest"
c.KubeSpawner.image_pull_policy = "IfNotPresent"
c.KubeSpawner.uid = 1000
c.KubeSpawner.cpu_limit = 2
c.KubeSpawner.mem_limit = "2G"
# the node's own celld: its IP from the downward API, expanded by Kubernetes in DOCKER_HOST
c.KubeSpawner.environment = {
    "HOST_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
    "DOCKER_HOST": "tcp://$(HOST_IP):2376",
    "DOCKER_TLS_VERIFY": "1",
    "DOCKER_CERT_PATH": "/etc/dockerkernel/client",
}
c.KubeSpawner.volumes = [{"name": "client", "secret": {"secretName": "dockerkernel-client", "defaultMode": 0o444}}]
c.KubeSpawner.volume_mounts = [{"name": "client", "mountPath": "/etc/dockerkernel/client", "readOnly": True}]
