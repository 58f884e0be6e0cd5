"""deploy/ray: the KubeRay RayCluster manifest and the image it runs, checked offline (no
Kubernetes here): the fields KubeRay's ray.io/v1 RayCluster needs, and that they agree with
the Dockerfile, the pinned Ray and the package's extras."""
from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import kubernetes_validate as kv
import pytest

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).parents[2]
MANIFEST = ROOT / "deploy" / "ray" / "raycluster.yaml"
DOCKERFILE = ROOT / "deploy" / "ray" / "Dockerfile"
KUBERNETES = ["1.30", "1.37"]  # the releases whose schemas the pod templates are checked against


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def groups(cluster: dict) -> list[dict]:
    return [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]


def containers(group: dict) -> list[dict]:
    return group["template"]["spec"]["containers"]


def test_it_is_a_kuberay_raycluster_of_the_pinned_ray(cluster):
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", cluster["metadata"]["name"])
    pinned = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE).group(1)
    assert cluster["spec"]["rayVersion"] == pinned


def test_every_pod_runs_the_image_the_dockerfile_builds_with_fixed_resources(cluster):
    tag = re.search(r"docker build -f deploy/ray/Dockerfile -t (\S+) \.", DOCKERFILE.read_text()).group(1)
    for group in groups(cluster):
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())  # KubeRay takes strings
        for c in containers(group):
            assert c["image"] == tag
            r = c["resources"]
            assert r["requests"] == r["limits"], "Ray counts the limit; requests == limits keeps the pod Guaranteed"
            assert int(r["limits"]["cpu"]) >= 1 and re.fullmatch(r"\d+(Gi|Mi)", r["limits"]["memory"])
            assert any(m["mountPath"] == "/dev/shm" for m in c["volumeMounts"])
        shm = [v for v in group["template"]["spec"]["volumes"] if v["name"] == "shm"]
        assert shm and shm[0]["emptyDir"]["medium"] == "Memory"


def test_the_head_keeps_its_cpus_from_matches_and_workers_can_host_them(cluster):
    head = cluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert {p["containerPort"] for p in containers(head)[0]["ports"]} >= {6379, 8265, 10001}
    for worker in cluster["spec"]["workerGroupSpecs"]:
        assert worker["groupName"] and 0 <= worker["minReplicas"] <= worker["replicas"] <= worker["maxReplicas"]
        # an RLlib EnvRunner asks for 2 CPUs (itself and its game), a match for 1
        assert int(containers(worker)[0]["resources"]["limits"]["cpu"]) >= 2


def test_the_image_builds_debian_12_with_openarena_and_the_node_s_extras():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM debian:12$", text, re.MULTILINE)
    assert "openarena-server" in text and "wget" in text  # wget: KubeRay's health probes
    extras = re.search(r"make venv proto native web EXTRAS=(\S+)", text).group(1).split(",")
    known = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(known) and {"build", "daemon", "ray", "rllib"} <= set(extras)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "native/build", "web/node_modules"} <= set(ignored)  # the image builds its own


def as_pod_template(group: dict) -> dict:
    """A group's pod template as the core v1 PodTemplate it is, for Kubernetes' own schema."""
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "group"}, "template": group["template"]}


@pytest.mark.parametrize("release", KUBERNETES)
def test_every_pod_template_passes_kubernetes_own_schema(cluster, release):
    """KubeRay's CRD is not on this machine, but its pod templates are core PodTemplateSpecs:
    checked strictly (no unknown field) against Kubernetes' own schema of that release."""
    for group in groups(cluster):
        kv.validate(as_pod_template(group), release, strict=True)


@pytest.mark.parametrize("spoil", [
    lambda spec: spec["containers"][0].update(resource=spec["containers"][0].pop("resources")),  # a misspelt field
    lambda spec: spec["volumes"][0].update(emptyDir="Memory"),                                  # a wrong type
    lambda spec: spec["containers"][0].pop("name"),                                             # a required field gone
])
def test_the_schema_check_catches_a_broken_template(cluster, spoil):
    template = copy.deepcopy(as_pod_template(cluster["spec"]["headGroupSpec"]))
    spoil(template["template"]["spec"])
    with pytest.raises(kv.ValidationError):
        kv.validate(template, KUBERNETES[-1], strict=True)
