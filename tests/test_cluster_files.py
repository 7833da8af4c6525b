"""cluster/: the KubeRay manifests, the `ray up` config, the images and the compose stack, checked as far as
this machine allows without a container engine or a Kubernetes API server: each file against the schema of
what reads it (Serve, Kubernetes, Ray's cluster launcher), and against the code (settings, versions, limits)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetray.config import Settings

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
KUBERNETES = "1.30"
RAY_VERSION = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)[1]
# The fields of KubeRay's ray.io/v1 API these manifests may use (KubeRay's CRDs are not installable here).
HEAD_FIELDS = {"rayStartParams", "template", "serviceType", "enableIngress", "headService"}
WORKER_FIELDS = {
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "rayStartParams",
    "template",
    "idleTimeoutSeconds",
    "scaleStrategy",
    "numOfHosts",
    "suspend",
}
CLUSTER_FIELDS = {
    "rayVersion",
    "enableInTreeAutoscaling",
    "autoscalerOptions",
    "headGroupSpec",
    "workerGroupSpecs",
    "headServiceAnnotations",
    "suspend",
}
AUTOSCALER_FIELDS = {"upscalingMode", "idleTimeoutSeconds", "resources", "image", "imagePullPolicy", "env", "envFrom"}
SERVICE_FIELDS = {"serveConfigV2", "rayClusterConfig", "upgradeStrategy", "serveService", "excludeHeadPodFromServeSvc"}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CLUSTER / name).read_text())


def _cluster_specs() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("kuberay/raycluster.yaml", _load("kuberay/raycluster.yaml")["spec"]),
        ("kuberay/rayservice.yaml", _load("kuberay/rayservice.yaml")["spec"]["rayClusterConfig"]),
    ]


def _pod_templates() -> list[tuple[str, dict[str, Any]]]:
    templates = []
    for name, spec in _cluster_specs():
        templates.append((f"{name} head", spec["headGroupSpec"]["template"]))
        templates += [(f"{name} {group['groupName']}", group["template"]) for group in spec["workerGroupSpecs"]]
    return templates


def _serve_configs() -> list[tuple[str, dict[str, Any]]]:
    service = yaml.safe_load(_load("kuberay/rayservice.yaml")["spec"]["serveConfigV2"])
    return [("serve_config.yaml", _load("serve_config.yaml")), ("kuberay/rayservice.yaml", service)]


def _environment(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


@pytest.mark.parametrize(("name", "config"), _serve_configs(), ids=[n for n, _ in _serve_configs()])
def test_serve_configs_are_valid_and_build_the_api(
    name: str, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray.serve.schema import ServeDeploySchema

    from serve_apps.api.deployment import app_builder

    schema = ServeDeploySchema.model_validate(config)
    (application,) = schema.applications
    assert application.import_path == "serve_apps.api.deployment:app_builder"
    monkeypatch.setenv("FLEETRAY_DATABASE_URL", "postgresql://fleetray@postgres:5432/fleetray")  # from the Secret
    assert app_builder(application.args) is not None  # every arg is a setting the API knows, with a valid value


@pytest.mark.parametrize(("name", "template"), _pod_templates(), ids=[n for n, _ in _pod_templates()])
def test_every_pod_template_is_a_valid_kubernetes_pod_template(name: str, template: dict[str, Any]) -> None:
    import kubernetes_validate

    document = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "ray"}, "template": template}
    kubernetes_validate.validate(document, KUBERNETES, strict=True)
    for container in template["spec"]["containers"]:
        assert {"requests", "limits"} <= set(container["resources"]), (name, container["name"])
        assert container["envFrom"] == [{"secretRef": {"name": "fleetray-settings"}}], name


@pytest.mark.parametrize("name", ["kuberay/platform.yaml", "kuberay/secret.example.yaml"])
def test_plain_kubernetes_objects_are_valid(name: str) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(_load(name), KUBERNETES, strict=True)


@pytest.mark.parametrize(("name", "spec"), _cluster_specs(), ids=[n for n, _ in _cluster_specs()])
def test_ray_clusters_use_kuberays_v1_fields_and_the_pinned_ray(name: str, spec: dict[str, Any]) -> None:
    assert set(spec) <= CLUSTER_FIELDS, name
    assert spec["rayVersion"] == RAY_VERSION
    assert spec["enableInTreeAutoscaling"] is True and set(spec["autoscalerOptions"]) <= AUTOSCALER_FIELDS
    assert set(spec["headGroupSpec"]) <= HEAD_FIELDS
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # no work on the head
    for group in spec["workerGroupSpecs"]:
        assert set(group) <= WORKER_FIELDS, group["groupName"]
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group["groupName"]
    for params in [spec["headGroupSpec"]["rayStartParams"], *(g["rayStartParams"] for g in spec["workerGroupSpecs"])]:
        assert all(isinstance(value, str) for value in params.values()), params  # KubeRay takes strings only
    for container in (c for _, t in _pod_templates() for c in t["spec"]["containers"]):
        assert container["image"].startswith("fleetray:")


def test_the_rayservice_serves_through_haproxy_on_every_node() -> None:
    document = _load("kuberay/rayservice.yaml")
    assert document["apiVersion"] == "ray.io/v1" and set(document["spec"]) <= SERVICE_FIELDS
    spec = document["spec"]["rayClusterConfig"]
    containers = [spec["headGroupSpec"]["template"]["spec"]["containers"][0]] + [
        group["template"]["spec"]["containers"][0] for group in spec["workerGroupSpecs"]
    ]
    for container in containers:
        environment = _environment(container)
        assert environment["RAY_SERVE_ENABLE_HA_PROXY"] == "1" and environment["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"


def test_every_ray_pod_and_the_platform_driver_share_rays_token_from_one_secret() -> None:
    secret = _load("kuberay/secret.example.yaml")
    assert secret["stringData"]["RAY_AUTH_MODE"] == "token" and secret["stringData"]["RAY_AUTH_TOKEN"]
    platform = _load("kuberay/platform.yaml")["spec"]["template"]
    containers = [c for _, t in [*_pod_templates(), ("platform", platform)] for c in t["spec"]["containers"]]
    for container in containers:
        sources = [item["secretRef"]["name"] for item in container.get("envFrom", []) if "secretRef" in item]
        assert secret["metadata"]["name"] in sources, container["name"]
        assert not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} & set(_environment(container)), container["name"]


def test_settings_named_anywhere_in_cluster_are_settings_with_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetray.config import load_settings

    platform = _load("kuberay/platform.yaml")["spec"]["template"]["spec"]["containers"][0]
    compose = _load("compose/compose.yaml")["services"]["fleetray"]["environment"]
    sources = {
        "kuberay/secret.example.yaml": _load("kuberay/secret.example.yaml")["stringData"],
        "kuberay/platform.yaml": _environment(platform),
        "compose/compose.yaml": {name: str(value) for name, value in compose.items()},
    }
    fields = {f"FLEETRAY_{name.upper()}" for name in Settings.model_fields}
    for source, environment in sources.items():
        named = {name for name in environment if name.startswith("FLEETRAY_")}
        assert named and named <= fields, (source, named - fields)
        for name in named:
            monkeypatch.setenv(name, environment[name])
        load_settings()  # raises ConfigError naming a bad value
        for name in named:
            monkeypatch.delenv(name)
    components = _environment(platform)["FLEETRAY_COMPONENTS"].split(",")
    assert "api" not in components  # the RayService serves it


def test_the_ray_up_config_is_valid_for_the_cluster_launcher() -> None:
    import jsonschema
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = _load("ray-up/aws.yaml")
    jsonschema.validate(config, schema)
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}


def test_the_platform_image_pins_ray_and_installs_cpu_torch_before_the_platform() -> None:
    dockerfile = (CLUSTER / "docker/Dockerfile").read_text()
    assert f"ARG RAY_IMAGE=rayproject/ray:{RAY_VERSION}-py311-cpu" in dockerfile
    assert dockerfile.index("torch==2.13.0") < dockerfile.index('".[platform]"')
    copied = re.findall(r"^COPY --chown=ray (\S+) ", dockerfile, re.MULTILINE)
    assert all((ROOT / path).exists() for path in copied)
    assert {"fleetray", "actors", "pipelines", "serve_apps"} <= set(copied)
    assert (ROOT / "edge/deploy/Dockerfile").exists()  # the agent's own image


def test_the_compose_stack_wires_every_service_and_runs_mosquitto_with_the_platforms_limits() -> None:
    from fleetray.services.mqtt_broker import MOSQUITTO_CONF

    services = _load("compose/compose.yaml")["services"]
    assert {"postgres", "kafka", "mosquitto", "minio", "fleetray"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        assert set(service.get("depends_on", {})) <= set(services), name
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    build = services["fleetray"]["build"]
    assert ((CLUSTER / "compose" / build["context"]).resolve() / build["dockerfile"]).exists()
    ours = [line for line in (CLUSTER / "compose/mosquitto.conf").read_text().splitlines() if not line.startswith("#")]
    platform = MOSQUITTO_CONF.format(port=1883, state_dir="/mosquitto/data").splitlines()
    mounted = {"listener", "persistence_location"}
    assert [line for line in ours if line.split()[0] not in mounted] == [
        line for line in platform if line.split()[0] not in mounted
    ]
