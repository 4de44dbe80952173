"""Every cluster definition we ship parses and validates; the validators catch what a cluster would reject.

    .venv/bin/pytest tests/cluster/test_manifests.py
"""
from __future__ import annotations

import copy

import pytest
import yaml

from stagewise.cluster.manifests import (
    HERE,
    gpu_groups,
    shipped_definitions,
    validate_kuberay,
    validate_launcher,
)
from stagewise.config import load_study
from stagewise.core.errors import StagewiseError
from tests.conftest import REPO

KUBERAY = HERE / "kuberay"
LAUNCHER = HERE / "launcher" / "aws-gpu.yaml"


def _write(tmp_path, doc, name="manifest.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def test_every_shipped_definition_validates():
    paths = shipped_definitions()
    assert {p.name for p in paths} >= {"aws-gpu.yaml", "raycluster.yaml", "rayjob-olmo2-7b.yaml",
                                       "rayjob-on-cluster.yaml"}
    for p in paths:
        if p.parent.name == "launcher":
            validate_launcher(p)
        else:
            validate_kuberay(p)


def test_launcher_matches_the_real_scale_study():
    config = validate_launcher(LAUNCHER)
    study = load_study(REPO / "configs" / "olmo2-7b.yaml")
    types = config["available_node_types"]
    gpu_types = {n: t for n, t in types.items() if t.get("resources", {}).get("GPU")}
    assert set(gpu_types) == {"gpu-train", "gpu-serve"}
    for t in gpu_types.values():
        assert t["resources"]["GPU"] == study.cluster.gpus_per_node
        assert f"accelerator_type:{study.cluster.gpu_type}" in t["resources"]
        assert t["min_workers"] == 0  # scale from zero
    assert sum(t["max_workers"] for t in gpu_types.values()) == study.cluster.max_nodes
    assert config["idle_timeout_minutes"] > 0
    assert any("[gpu]" in c for c in config["setup_commands"]), "nodes install the GPU profile"


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["available_node_types"]["gpu-train"].update(min_wokers=1), "min_wokers"),
    (lambda c: c.update(head_node_type="nope"), "head_node_type"),
    (lambda c: c.update(max_workers=1), "max_workers"),
    (lambda c: c["available_node_types"]["gpu-serve"]["resources"].pop("accelerator_type:H100"), "accelerator_type"),
])
def test_launcher_rejects_broken_configs(tmp_path, edit, message):
    doc = yaml.safe_load(LAUNCHER.read_text())
    doc["available_node_types"]["cpu-worker"]["min_workers"] = 1  # so max_workers=1 < sum(min) + ... fails
    doc["available_node_types"]["gpu-train"]["min_workers"] = 1
    edit(doc)
    path = tmp_path / "launcher" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(StagewiseError, match=message):
        validate_launcher(path)


def test_kuberay_cluster_autoscales_gpu_groups_from_zero():
    doc = validate_kuberay(KUBERAY / "raycluster.yaml")
    spec = doc["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert gpu_groups(spec) == {"gpu-train": 8, "gpu-serve": 8}
    for g in spec["workerGroupSpecs"]:
        assert g["minReplicas"] == 0 and g["maxReplicas"] >= 1


def test_rayjob_brings_the_same_cluster_and_cleans_up():
    cluster = yaml.safe_load((KUBERAY / "raycluster.yaml").read_text())
    job = validate_kuberay(KUBERAY / "rayjob-olmo2-7b.yaml")
    assert job["spec"]["rayClusterSpec"] == cluster["spec"], "rayjob-olmo2-7b.yaml drifted from raycluster.yaml"
    assert job["spec"]["shutdownAfterJobFinishes"] is True and job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["entrypoint"].startswith("stagewise run configs/olmo2-7b.yaml")
    env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    shipped = yaml.safe_load((HERE / "runtime_env.yaml").read_text())
    assert set(shipped["excludes"]) >= set(env["excludes"]) >= {".venv/", ".cache/", "runs/", ".git/"}
    on_cluster = validate_kuberay(KUBERAY / "rayjob-on-cluster.yaml")
    assert on_cluster["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}


def _cluster():
    return yaml.safe_load((KUBERAY / "raycluster.yaml").read_text())


def _gpu_container(doc):
    group = next(g for g in doc["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu-train")
    return group["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["spec"]["headGroupSpec"].pop("template"), "template"),
    (lambda d: d["spec"].update(enableInTreeAutoscaling="yes"), "enableInTreeAutoscaling"),
    (lambda d: d["spec"]["workerGroupSpecs"][0].update(maxReplica=3), "maxReplica"),
    (lambda d: d["spec"]["workerGroupSpecs"][0].pop("groupName"), "groupName"),
    (lambda d: d["spec"]["autoscalerOptions"].update(upscalingMode="Fast"), "upscalingMode"),
    (lambda d: _gpu_container(d)["resources"]["limits"].update({"nvidia.com/gpu": "eight"}), "nvidia.com/gpu"),
    (lambda d: _gpu_container(d)["resources"]["limits"].pop("nvidia.com/gpu"), "limits.nvidia.com/gpu"),
    (lambda d: _gpu_container(d)["resources"]["requests"].update({"nvidia.com/gpu": 4}), "must be equal"),
    (lambda d: _gpu_container(d).pop("image"), "image"),
    (lambda d: _gpu_container(d).update(image="rayproject/ray"), "pinned tag"),
    (lambda d: _gpu_container(d).update(resource={}), "resource"),
    (lambda d: d["spec"]["workerGroupSpecs"][0].update(minReplicas=5), "minReplicas 5 > maxReplicas"),
    (lambda d: d["spec"].update(enableInTreeAutoscaling=False), "enableInTreeAutoscaling: must be true"),
    (lambda d: d["spec"].update(rayVersion="2.9.0"), "rayVersion"),
    (lambda d: d.update(apiVersion="ray.io/v1alpha1"), "apiVersion"),
])
def test_kuberay_cluster_rejects(tmp_path, edit, message):
    doc = _cluster()
    edit(doc)
    with pytest.raises(StagewiseError, match=message):
        validate_kuberay(_write(tmp_path, doc))


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(clusterSelector={"ray.io/cluster": "x"}), "exactly one of"),
    (lambda s: s.update(submissionMode="Batch"), "submissionMode"),
    (lambda s: s.update(runtimeEnvYAML="excludes: [unclosed"), "runtimeEnvYAML: invalid YAML"),
    (lambda s: s.update(runtimeEnvYAML="pip: 3"), "runtimeEnvYAML"),
    (lambda s: s.pop("entrypoint"), "entrypoint"),
    (lambda s: s.update(shutdownAfterJobFinishes=False), "ttlSecondsAfterFinished"),
])
def test_rayjob_rejects(tmp_path, edit, message):
    doc = yaml.safe_load((KUBERAY / "rayjob-olmo2-7b.yaml").read_text())
    edit(doc["spec"])
    with pytest.raises(StagewiseError, match=message):
        validate_kuberay(_write(tmp_path, doc))


def test_rayjob_on_selected_cluster_cannot_delete_it(tmp_path):
    doc = yaml.safe_load((KUBERAY / "rayjob-on-cluster.yaml").read_text())
    doc["spec"]["shutdownAfterJobFinishes"] = True
    with pytest.raises(StagewiseError, match="did not create"):
        validate_kuberay(_write(tmp_path, copy.deepcopy(doc)))


# -- Nothing we ship exposes the dashboard (job submission runs code) or Serve beyond the cluster network.


def _kuberay_cluster_specs():
    """(file, RayCluster spec) of every shipped KubeRay manifest that defines a cluster."""
    for path in sorted(KUBERAY.glob("*.yaml")):
        doc = validate_kuberay(path)
        spec = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"].get("rayClusterSpec")
        if spec is not None:
            yield path, spec


def test_kuberay_manifests_keep_dashboard_and_serve_on_the_cluster_network():
    specs = list(_kuberay_cluster_specs())
    assert {p.name for p, _ in specs} == {"raycluster.yaml", "rayjob-olmo2-7b.yaml"}
    for path, spec in specs:
        head = spec["headGroupSpec"]
        assert head["serviceType"] == "ClusterIP", path
        assert not head.get("enableIngress"), path
        assert head.get("headService", {}).get("spec", {}).get("type", "ClusterIP") == "ClusterIP", path
        pods = [head["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
        for pod in pods:
            assert not pod["spec"].get("hostNetwork"), path
            assert not any("hostPort" in p for c in pod["spec"]["containers"] for p in c.get("ports", [])), path
        # Job drivers run on the head: the serving key reaches them from the Secret, never from the manifest.
        env = {e["name"]: e for c in head["template"]["spec"]["containers"] for e in c.get("env", [])}
        assert env["STAGEWISE_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "stagewise-secrets", path
        assert "value" not in env["STAGEWISE_API_KEY"], path
    guide = (HERE / "kuberay.md").read_text()
    assert "kubectl port-forward svc/stagewise-head-svc 8265:8265" in guide


def test_launcher_head_dashboard_listens_on_loopback():
    config = validate_launcher(LAUNCHER)
    (head,) = [c for c in config["head_start_ray_commands"] if "--head" in c]
    assert "--dashboard-host=127.0.0.1" in head.split()
    assert "ray dashboard cluster/launcher/aws-gpu.yaml" in (HERE / "launcher.md").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["spec"]["headGroupSpec"].update(serviceType="LoadBalancer"), "serviceType: LoadBalancer"),
    (lambda d: d["spec"]["headGroupSpec"].update(serviceType="NodePort"), "serviceType: NodePort"),
    (lambda d: d["spec"]["headGroupSpec"].update(headService={"spec": {"type": "LoadBalancer"}}),
     "headService.spec.type: LoadBalancer"),
    (lambda d: d["spec"]["headGroupSpec"].update(enableIngress=True), "enableIngress"),
    (lambda d: d["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"][1].update(hostPort=8265),
     r"ports\[dashboard\]\.hostPort"),
    (lambda d: d["spec"]["headGroupSpec"]["template"]["spec"].update(hostNetwork=True), "hostNetwork"),
])
def test_kuberay_cluster_rejects_exposure(tmp_path, edit, message):
    doc = _cluster()
    edit(doc)
    with pytest.raises(StagewiseError, match=message):
        validate_kuberay(_write(tmp_path, doc))


@pytest.mark.parametrize("commands, message", [
    (None, r"found 0\.0\.0\.0"),  # Ray fills in its AWS default head command, which binds 0.0.0.0
    (["ray start --head --port=6379 --dashboard-host=0.0.0.0"], r"found 0\.0\.0\.0"),
    (["ray start --head --port=6379 --dashboard-host 0.0.0.0"], r"found 0\.0\.0\.0"),
    (["ulimit -n 65536; ray start --head --port=6379"], "found none"),
])
def test_launcher_rejects_a_public_dashboard(tmp_path, commands, message):
    doc = yaml.safe_load(LAUNCHER.read_text())
    if commands is None:
        doc.pop("head_start_ray_commands")
    else:
        doc["head_start_ray_commands"] = commands
    path = tmp_path / "launcher" / "open.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(StagewiseError, match=message):
        validate_launcher(path)
