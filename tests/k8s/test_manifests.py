"""Render ``k8s/``, validate every object against the Kubernetes 1.32 schemas, check the cross-references."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from pydantic import BaseModel

from agenthost.cli import _parser
from agenthost.core.registry import AgentRegistry
from agenthost.settings import Settings
from tests.k8s.kustomize import Obj, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERNETES = "1.32.0"
ROUTES = {"bridge": {"/health", "/ready"}, "worker": {"/health", "/ready"}}
OVERLAYS = [K8S / "base", K8S / "overlays" / "local"]


@pytest.fixture(params=OVERLAYS, ids=lambda path: str(path.relative_to(K8S)))
def objects(request: pytest.FixtureRequest) -> list[Obj]:
    return render(request.param)


def _of(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def _pods(objects: list[Obj]) -> list[Obj]:
    return _of(objects, "Deployment")


def _workers(objects: list[Obj]) -> list[Obj]:
    labels = "app.kubernetes.io/component"
    return [d for d in _pods(objects) if d["spec"]["template"]["metadata"]["labels"].get(labels) == "worker"]


def _containers(deployment: Obj) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


def _config(objects: list[Obj]) -> dict[str, str]:
    (config,) = [obj for obj in _of(objects, "ConfigMap") if obj["metadata"]["name"] == "agenthost-config"]
    data: dict[str, str] = config["data"]
    return data


def test_every_object_is_valid_for_kubernetes_1_32(objects: list[Obj]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)  # raises on any schema error


def test_the_expected_objects_exist(objects: list[Obj]) -> None:
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    for expected in [
        ("ConfigMap", "agenthost-config"),
        ("Secret", "agenthost-secrets"),
        ("Deployment", "agenthost-grpc-host"),
        ("Service", "agenthost-grpc-host"),
        ("Deployment", "agenthost-bridge"),
        ("Service", "agenthost-bridge"),
        ("PodDisruptionBudget", "agenthost-bridge"),
        ("HorizontalPodAutoscaler", "agenthost-bridge"),
        ("PodDisruptionBudget", "agenthost-worker-echo"),
        ("PodDisruptionBudget", "agenthost-worker-llm"),
        ("HorizontalPodAutoscaler", "agenthost-worker-llm"),
    ]:
        assert expected in kinds
    host = next(d for d in _pods(objects) if d["metadata"]["name"] == "agenthost-grpc-host")
    assert host["spec"]["replicas"] == 1
    assert host["spec"]["strategy"]["type"] == "Recreate"
    bridge = next(d for d in _pods(objects) if d["metadata"]["name"] == "agenthost-bridge")
    assert bridge["spec"]["replicas"] == 2


def test_selectors_match_pod_labels(objects: list[Obj]) -> None:
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in _pods(objects)]
    for deployment in _pods(objects):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert sum(selector.items() <= labels.items() for labels in pods) == 1, deployment["metadata"]["name"]
    for service in _of(objects, "Service"):
        assert sum(service["spec"]["selector"].items() <= labels.items() for labels in pods) == 1
    for pdb in _of(objects, "PodDisruptionBudget"):
        assert any(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items() for labels in pods)
    names = {d["metadata"]["name"] for d in _pods(objects)}
    for hpa in _of(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in names


def test_service_ports_match_container_ports(objects: list[Obj]) -> None:
    for service in _of(objects, "Service"):
        (deployment,) = [
            d
            for d in _pods(objects)
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        ports = [port for c in _containers(deployment) for port in c.get("ports", [])]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(target in (p.get("name"), p["containerPort"]) for p in ports), (service["metadata"], target)


def test_probes_hit_real_ports_and_paths(objects: list[Obj]) -> None:
    for deployment in _pods(objects):
        component = deployment["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        for container in _containers(deployment):
            ports = container.get("ports", [])
            for kind in ("livenessProbe", "readinessProbe"):
                probe = container[kind]
                action = probe.get("httpGet") or probe.get("grpc") or probe.get("tcpSocket")
                assert action is not None
                assert any(action["port"] in (p.get("name"), p["containerPort"]) for p in ports)
                if "httpGet" in probe:
                    assert probe["httpGet"]["path"] in ROUTES[component]
                if "grpc" in probe:
                    assert component == "grpc-host"


def test_worker_health_port_matches_settings(objects: list[Obj]) -> None:
    health_port = int(_config(objects)["AGENTHOST_RUNTIME__HEALTH_PORT"])
    http_port = int(_config(objects)["AGENTHOST_HTTP__PORT"])
    for deployment in _pods(objects):
        component = deployment["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        ports = {p["containerPort"] for c in _containers(deployment) for p in c.get("ports", [])}
        if component == "worker":
            assert ports == {health_port}
        if component == "bridge":
            assert ports == {http_port}


def _field(model: type[BaseModel], path: list[str]) -> bool:
    name, rest = path[0].lower(), path[1:]
    if name not in model.model_fields:
        return False
    if not rest:
        return True
    annotation = model.model_fields[name].annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and _field(annotation, rest)


def test_env_names_are_settings(objects: list[Obj]) -> None:
    names = set(_config(objects))
    for deployment in _pods(objects):
        names |= {e["name"] for c in _containers(deployment) for e in c.get("env", [])}
    names.discard("AGENTHOST_SECRETS_DIR")  # read by Settings' model_config itself
    for name in names:
        if name.startswith("AGENTHOST_"):
            assert _field(Settings, name.removeprefix("AGENTHOST_").split("__")), name


def test_configmap_values_parse_as_settings(objects: list[Obj], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _config(objects).items():
        if name != "AGENTHOST_SECRETS_DIR":
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.runtime.mode == "grpc"
    host_service = next(s for s in _of(objects, "Service") if s["metadata"]["name"] == "agenthost-grpc-host")
    name, port = settings.runtime.host_address.rsplit(":", 1)
    assert name == host_service["metadata"]["name"]
    assert int(port) in {p["port"] for p in host_service["spec"]["ports"]}
    bridge = next(d for d in _pods(objects) if d["metadata"]["name"] == "agenthost-bridge")
    assert bridge["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > settings.http.shutdown_timeout
    longest_drain = settings.timeouts.request + settings.timeouts.cancel + settings.timeouts.shutdown
    for deployment in _workers(objects):
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > longest_drain


def test_secret_keys_load_as_settings(objects: list[Obj], tmp_path: Path) -> None:
    """Mount the Secret as the pods do (one file per key) and read it with the real Settings."""
    for secret in _of(objects, "Secret"):
        for key, value in secret["stringData"].items():
            (tmp_path / key).write_text(value)
    settings = Settings(_secrets_dir=tmp_path)
    assert settings.model.api_key is not None
    assert settings.model.api_key.get_secret_value() == "sk-replace-me"
    assert settings.state.redis_url.get_secret_value() == "redis://agenthost-redis:6379/0"


def test_commands_are_cli_roles_and_agents_are_served_once(objects: list[Obj]) -> None:
    registry = AgentRegistry()
    from agenthost.core.plugins import _load_package

    _load_package("agents", registry)
    served: list[str] = []
    for deployment in _pods(objects):
        for container in _containers(deployment):
            if not container["image"].split(":")[0].endswith("agenthost"):
                continue
            args = _parser().parse_args(container["args"])
            if args.command == "worker":
                served += args.agents.split(",")
    assert sorted(served) == sorted(spec.name for spec in registry)  # every shipped agent, in one group


def test_workers_scale_and_roll_without_losing_a_worker_group(objects: list[Obj]) -> None:
    """Several replicas per group; an update adds a pod before draining an old one; a PDB guards each group."""
    budgets = _of(objects, "PodDisruptionBudget")
    for deployment in _workers(objects):
        assert deployment["spec"]["replicas"] >= 2
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (budget,) = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert budget["spec"]["maxUnavailable"] == 1
    scaled = {hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"] for hpa in _of(objects, "HorizontalPodAutoscaler")}
    assert "agenthost-worker-llm" in scaled
    assert scaled["agenthost-worker-llm"]["minReplicas"] >= 2


def test_no_two_budgets_or_deployments_claim_one_pod(objects: list[Obj]) -> None:
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in _pods(objects)]
    for labels in pods:
        claims = [
            b
            for b in _of(objects, "PodDisruptionBudget")
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(claims) <= 1, labels


def test_pods_run_non_root_with_a_read_only_root(objects: list[Obj]) -> None:
    for deployment in _pods(objects):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_dockerfile_is_multi_stage_non_root_and_named_in_the_manifests() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)[-1]
    assert user.split(":")[0] not in {"root", "0"}
    uid = int(user.split(":")[0])
    for deployment in _pods(render(K8S / "base")):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == uid
    assert re.search(r'^ENTRYPOINT \["agenthost"\]', dockerfile, re.MULTILINE)
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.MULTILINE):
        for source in shlex.split(line)[:-1]:
            assert (ROOT / source).exists() or source == "README.md", source
