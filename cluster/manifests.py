"""Check the cluster definitions we ship before anyone applies them: schema first, then what schemas miss.

    .venv/bin/python -m stagewise.cluster.manifests                        # every file under cluster/launcher, cluster/kuberay
    .venv/bin/python -m stagewise.cluster.manifests cluster/kuberay/raycluster.yaml

Cluster launcher YAML: Ray's own `prepare_config` + `validate_config` (what `ray up` runs: the JSON schema
shipped in ray/autoscaler/ray-schema.json plus its cross-field checks). KubeRay manifests: a compact schema
of the ray.io/v1 fields we use (cluster/schemas/kuberay-v1.schema.json, derived from KubeRay's Go types),
then the rules the API server would only reveal at apply time or later: GPU groups must limit
nvidia.com/gpu, replica bounds must be ordered, a RayJob that deletes its cluster must bring its own, and a
RayJob's runtime env must be YAML. Both kinds must keep the dashboard (it accepts job submissions, i.e. runs
code) and Serve off the public internet: a ClusterIP head Service, no Ingress, no host ports or host network on
Kubernetes; a loopback `--dashboard-host` on a launcher head (users tunnel with `kubectl port-forward` / `ray
dashboard`). Every failure is a StagewiseError naming the file and the field.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from stagewise.core.errors import StagewiseError

HERE = Path(__file__).resolve().parent
KUBERAY_SCHEMA = HERE / "schemas" / "kuberay-v1.schema.json"
GPU = "nvidia.com/gpu"


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise StagewiseError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise StagewiseError(f"{path}: expected a mapping at the top level")
    return doc


def _field(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top>"


def validate_launcher(path: str | Path) -> dict[str, Any]:
    """Validate a Ray cluster launcher YAML exactly as `ray up` would; return it with Ray's defaults filled in."""
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    path = Path(path)
    raw = _load(path)
    try:
        config = prepare_config(copy.deepcopy(raw))
        validate_config(config)
    except jsonschema.ValidationError as e:
        raise StagewiseError(f"{path}: {_field(e)}: {e.message}") from None
    except (ValueError, KeyError, RuntimeError, NotImplementedError) as e:
        raise StagewiseError(f"{path}: {e}") from None
    for name, node in config["available_node_types"].items():
        gpus = node.get("resources", {}).get("GPU", 0)
        if gpus and not any(k.startswith("accelerator_type:") for k in node.get("resources", {})):
            # Serve's LLM deployments place by accelerator_type; without it the autoscaler cannot pick this type.
            raise StagewiseError(f"{path}: available_node_types.{name}.resources: GPU nodes must declare "
                                 f"accelerator_type:<GPU> for serving.models.<id>.accelerator_type")
    _check_launcher_dashboard(path, config)
    return config


def _check_launcher_dashboard(path: Path, config: dict[str, Any]) -> None:
    """The head's dashboard on loopback: Ray's own default head command binds it to 0.0.0.0."""
    import shlex

    heads = [c for c in config.get("head_start_ray_commands", []) if "ray start" in c and "--head" in c]
    if not heads:
        raise StagewiseError(f"{path}: head_start_ray_commands: must start the head with --dashboard-host=127.0.0.1 "
                             f"(Ray's default binds the dashboard, which runs submitted jobs, to 0.0.0.0)")
    for command in heads:
        words = shlex.split(command.replace(";", " ; "))
        hosts = [w.split("=", 1)[1] for w in words if w.startswith("--dashboard-host=")]
        hosts += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--dashboard-host"]
        if not hosts or any(h not in ("127.0.0.1", "localhost") for h in hosts):
            raise StagewiseError(f"{path}: head_start_ray_commands: --dashboard-host must be 127.0.0.1 (found "
                                 f"{', '.join(hosts) or 'none, i.e. 0.0.0.0'}); users reach it through `ray dashboard`")


def validate_kuberay(path: str | Path) -> dict[str, Any]:
    """Validate a RayCluster or RayJob manifest; return the parsed document."""
    import jsonschema

    path = Path(path)
    doc = _load(path)
    kind = doc.get("kind")
    if kind not in ("RayCluster", "RayJob"):
        raise StagewiseError(f"{path}: kind: expected RayCluster or RayJob, got {kind!r}")
    schema = json.loads(KUBERAY_SCHEMA.read_text(encoding="utf-8"))
    schema = {"definitions": schema["definitions"], "$ref": f"#/definitions/{kind}"}
    # Report the deepest error: at a oneOf/anyOf the first one names only the outer field.
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(doc))
    if error is not None:
        raise StagewiseError(f"{path}: {_field(error)}: {error.message}")

    spec = doc["spec"]
    if kind == "RayCluster":
        _check_cluster_spec(path, "spec", spec)
    else:
        _check_job(path, spec)
    return doc


def _check_cluster_spec(path: Path, where: str, spec: dict[str, Any]) -> None:
    head = spec["headGroupSpec"]
    # The head Service carries the dashboard (job submission runs code), the GCS and Serve: cluster network only.
    if head.get("serviceType", "ClusterIP") != "ClusterIP":
        raise StagewiseError(f"{path}: {where}.headGroupSpec.serviceType: {head['serviceType']} exposes the dashboard "
                             f"and Serve beyond the cluster; use ClusterIP and `kubectl port-forward`")
    service_type = (head.get("headService") or {}).get("spec", {}).get("type", "ClusterIP")
    if service_type != "ClusterIP":
        raise StagewiseError(f"{path}: {where}.headGroupSpec.headService.spec.type: {service_type} exposes the "
                             f"dashboard and Serve beyond the cluster; use ClusterIP and `kubectl port-forward`")
    if head.get("enableIngress"):
        raise StagewiseError(f"{path}: {where}.headGroupSpec.enableIngress: an Ingress exposes the dashboard (which "
                             f"runs submitted jobs); use `kubectl port-forward`")
    _check_pod(path, f"{where}.headGroupSpec.template", head["template"])
    names: set[str] = set()
    workers = spec.get("workerGroupSpecs", [])
    for i, group in enumerate(workers):
        gw = f"{where}.workerGroupSpecs[{group['groupName']}]"
        if group["groupName"] in names:
            raise StagewiseError(f"{path}: {gw}.groupName: duplicate")
        names.add(group["groupName"])
        if group["minReplicas"] > group["maxReplicas"]:
            raise StagewiseError(f"{path}: {gw}: minReplicas {group['minReplicas']} > maxReplicas "
                                 f"{group['maxReplicas']}")
        _check_pod(path, f"{gw}.template", group["template"])
    autoscaled = any(g["minReplicas"] < g["maxReplicas"] for g in workers)
    if autoscaled and not spec.get("enableInTreeAutoscaling"):
        raise StagewiseError(f"{path}: {where}.enableInTreeAutoscaling: must be true when a worker group's "
                             f"minReplicas < maxReplicas (nothing else would scale it)")
    version = spec.get("rayVersion")
    if version:
        import ray

        if str(version) != ray.__version__:
            raise StagewiseError(f"{path}: {where}.rayVersion: {version} but stagewise pins ray {ray.__version__}")


def _check_pod(path: Path, where: str, template: dict[str, Any]) -> None:
    for c in template["spec"]["containers"]:
        cw = f"{where}.spec.containers[{c['name']}]"
        for p in c.get("ports", []):
            if "hostPort" in p:
                raise StagewiseError(f"{path}: {cw}.ports[{p.get('name', p.get('containerPort'))}].hostPort: opens "
                                     f"the port on the node's own interfaces; use the ClusterIP Service")
        image = c["image"]
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            raise StagewiseError(f"{path}: {cw}.image: {image!r} needs a pinned tag (not latest)")
        res = c.get("resources", {})
        limits, requests = res.get("limits", {}), res.get("requests", {})
        if "cpu" not in limits or "memory" not in limits:
            # Ray sizes its logical CPUs / memory from the container limits; unset, it sees the whole node.
            raise StagewiseError(f"{path}: {cw}.resources.limits: cpu and memory are required")
        if GPU in requests and GPU not in limits:
            raise StagewiseError(f"{path}: {cw}.resources.limits.{GPU}: GPUs must be set in limits "
                                 f"(Kubernetes extended resources are not overcommitted)")
        if GPU in requests and str(requests[GPU]) != str(limits[GPU]):
            raise StagewiseError(f"{path}: {cw}.resources: {GPU} requests and limits must be equal")
        if GPU in limits and int(str(limits[GPU])) < 1:
            raise StagewiseError(f"{path}: {cw}.resources.limits.{GPU}: must be at least 1")


def gpu_groups(spec: dict[str, Any]) -> dict[str, int]:
    """Worker group name -> GPUs per pod, for the groups that have any."""
    out = {}
    for g in spec.get("workerGroupSpecs", []):
        n = sum(int(str(c.get("resources", {}).get("limits", {}).get(GPU, 0)))
                for c in g["template"]["spec"]["containers"])
        if n:
            out[g["groupName"]] = n
    return out


def _check_job(path: Path, spec: dict[str, Any]) -> None:
    if not spec.get("entrypoint") and spec.get("submissionMode") != "InteractiveMode":
        raise StagewiseError(f"{path}: spec.entrypoint: required unless submissionMode is InteractiveMode")
    own, selected = "rayClusterSpec" in spec, "clusterSelector" in spec
    if own == selected:
        raise StagewiseError(f"{path}: spec: exactly one of rayClusterSpec and clusterSelector")
    if selected and spec.get("shutdownAfterJobFinishes"):
        raise StagewiseError(f"{path}: spec.shutdownAfterJobFinishes: cannot delete a cluster it did not create "
                             f"(clusterSelector)")
    if spec.get("ttlSecondsAfterFinished") and not spec.get("shutdownAfterJobFinishes"):
        raise StagewiseError(f"{path}: spec.ttlSecondsAfterFinished: only applies with shutdownAfterJobFinishes")
    if "runtimeEnvYAML" in spec:
        try:
            env = yaml.safe_load(spec["runtimeEnvYAML"])
        except yaml.YAMLError as e:
            raise StagewiseError(f"{path}: spec.runtimeEnvYAML: invalid YAML: {e}") from None
        if not isinstance(env, dict):
            raise StagewiseError(f"{path}: spec.runtimeEnvYAML: expected a mapping")
        from ray.runtime_env import RuntimeEnv

        # A local working_dir names a path inside the image (cluster/Dockerfile), not on this machine.
        checked = {k: v for k, v in env.items() if not (k == "working_dir" and "://" not in str(v))}
        try:
            RuntimeEnv(**checked)  # Ray's own validation of the runtime env fields
        except Exception as e:  # Ray raises TypeError / ValueError / its own errors here
            raise StagewiseError(f"{path}: spec.runtimeEnvYAML: {e}") from None
    if own:
        _check_cluster_spec(path, "spec.rayClusterSpec", spec["rayClusterSpec"])


def shipped_definitions() -> list[Path]:
    return sorted((HERE / "launcher").glob("*.yaml")) + sorted((HERE / "kuberay").glob("*.yaml"))


def validate(path: str | Path) -> None:
    path = Path(path)
    if path.parent.name == "launcher":
        validate_launcher(path)
    else:
        validate_kuberay(path)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or shipped_definitions()
    try:
        for p in paths:
            validate(p)
            print(f"ok  {p}")
    except StagewiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
