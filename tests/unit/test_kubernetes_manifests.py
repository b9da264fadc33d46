"""The Kubernetes shape of the scale-out (examples/kubernetes/), checked offline against the
Kubernetes API schemas with kubernetes-validate (no cluster can run on these machines)."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"
VERSION = "1.30"  # a Kubernetes version the schemas of kubernetes-validate cover


def documents() -> list[dict]:
    return list(yaml.safe_load_all((EXAMPLES / "celld-daemonset.yaml").read_text()))


@pytest.mark.parametrize("index", range(2))
def test_manifests_are_valid_kubernetes_objects(index):
    doc = documents()[index]
    assert kubernetes_validate.validate(doc, VERSION, strict=True) == VERSION


def test_a_wrong_field_is_caught():
    """The check can fail: a misspelt field of the DaemonSet is refused."""
    broken = copy.deepcopy(documents()[0])
    broken["spec"]["template"]["spec"]["containers"][0]["hostPortt"] = 2376
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_the_user_pod_matches_the_kubespawner_configuration():
    """The example Pod is what jupyterhub_config.py asks KubeSpawner for: the same environment,
    the client certificate where DOCKER_CERT_PATH says, and DOCKER_HOST on the node's own celld."""
    config = ast.parse((EXAMPLES / "jupyterhub_config.py").read_text())
    settings = {}
    for node in config.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            settings[ast.unparse(node.targets[0])] = ast.literal_eval(node.value) if not isinstance(
                node.value, ast.Call) else None
    pod = documents()[1]["spec"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}
    wanted = settings["c.KubeSpawner.environment"]
    assert {k: (v["valueFrom"] if isinstance(v, dict) else v) for k, v in wanted.items()} == env
    assert env["DOCKER_HOST"] == "tcp://$(HOST_IP):2376"
    mount = pod["containers"][0]["volumeMounts"][0]
    assert mount["mountPath"] == env["DOCKER_CERT_PATH"] == settings["c.KubeSpawner.volume_mounts"][0]["mountPath"]
    daemonset = documents()[0]["spec"]["template"]["spec"]["containers"][0]
    assert daemonset["ports"][0]["hostPort"] == 2376
