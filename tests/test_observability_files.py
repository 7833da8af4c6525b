"""The Grafana dashboard and the Prometheus files in cluster/observability: well formed, and every series they
read is one the platform or Ray exports (a renamed metric would leave a panel or an alert silently empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "cluster" / "observability"
SERIES = re.compile(r"\b((?:ray|fleetray)_[a-z0-9_]+)")
SUFFIXES = {"Counter": ("_total",), "Gauge": ("",), "Histogram": ("_bucket", "_sum", "_count")}


def _platform_series() -> set[str]:
    """Series of our own metrics: Ray's (``metrics.Counter("name"...``, exported as ``ray_name_total``) and the
    API's prometheus_client ones (exported under their own name)."""
    found: set[str] = set()
    for source in [*ROOT.glob("actors/**/*.py"), *ROOT.glob("serve_apps/**/*.py"), *ROOT.glob("pipelines/**/*.py")]:
        text = source.read_text()
        for kind, name in re.findall(r"metrics\.(Counter|Gauge|Histogram)\(\s*\"([a-z_]+)\"", text):
            found |= {f"ray_{name}{suffix}" for suffix in SUFFIXES[kind]}
        for kind, name in re.findall(r"\b(Counter|Histogram)\(\s*\"(fleetray_[a-z_]+)\"", text):
            if "registry=" in text:
                found |= {f"{name}{suffix}" for suffix in SUFFIXES[kind]}
    return found


def _ray_series() -> set[str]:
    """Series Ray's own Grafana dashboards read (Serve, Ray Data, the nodes), from the installed Ray."""
    from ray.dashboard.modules.metrics import dashboards

    folder = Path(dashboards.__file__).parent
    return {name for panels in folder.glob("*_panels.py") for name in SERIES.findall(panels.read_text())}


@pytest.fixture(scope="module")
def known_series() -> set[str]:
    return _platform_series() | _ray_series()


def _unknown(expression: str, known: set[str]) -> list[str]:
    assert expression.count("(") == expression.count(")"), expression
    return [name for name in SERIES.findall(expression) if name not in known]


def test_the_platform_series_are_found_where_they_are_defined(known_series: set[str]) -> None:
    assert {"ray_fleetray_ingest_messages_total", "ray_fleetray_ingest_lag_seconds_bucket"} <= known_series
    assert {"fleetray_api_requests_total", "fleetray_api_request_seconds_bucket"} <= known_series
    assert "ray_serve_deployment_replica_healthy" in known_series


def test_every_dashboard_panel_reads_series_that_exist(known_series: set[str]) -> None:
    dashboard = json.loads((FILES / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] == "fleetray-platform"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Ingest", "Alerts", "API", "Serve", "Ray Data (bag pipeline)"]
    for panel in (p for p in panels if p["type"] != "row"):
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24 and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert not _unknown(target["expr"], known_series), (panel["title"], target["expr"])


def test_every_alerting_rule_is_complete_and_reads_series_that_exist(known_series: set[str]) -> None:
    groups = yaml.safe_load((FILES / "prometheus-rules.yaml").read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len({rule["alert"] for rule in rules}) == len(rules) >= 8
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
        assert not _unknown(rule["expr"], known_series - {"up"}), (rule["alert"], rule["expr"])


def test_the_scrape_config_loads_the_rules_and_scrapes_ray_and_the_api() -> None:
    config = yaml.safe_load((FILES / "prometheus.yaml").read_text())
    assert config["rule_files"] == ["prometheus-rules.yaml"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"ray", "fleetray-api"}
