"""The monitoring of compose.yaml, checked without a Docker engine: Prometheus scrapes every Sabaq
process of the deployment at the port it serves on, and the Grafana dashboard is valid JSON whose
queries name only metrics that Sabaq exports (read from a live application)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer

from tests.scrape import names, scrape

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
# Metric names in a PromQL expression (functions and labels are lower case too, but they are
# followed by "(" or compared with "=", and none starts with these prefixes).
METRIC = re.compile(r"\b((?:sabaq|process)_[a-z0-9_]+)\b")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_prometheus_scrapes_every_sabaq_service_where_it_listens() -> None:
    compose = load(ROOT / "compose.yaml")
    config = load(DEPLOY / "prometheus" / "prometheus.yml")
    services: dict[str, Any] = compose["services"]
    scraped: dict[str, str] = {}
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics", job["job_name"]
        for group in job["static_configs"]:
            service = group["labels"]["service"]
            assert service in services, f"{service} is not a service of compose.yaml"
            (target,) = group["targets"]
            scraped[service] = target
    sabaq = {name for name, s in services.items() if s.get("command", [""])[0] == "sabaq"}
    assert sabaq == {"control", "media-1", "media-2"}
    assert sabaq <= scraped.keys(), f"not scraped: {sabaq - scraped.keys()}"
    for name in sabaq:
        # Host networking: each process on loopback (where /metrics needs no token), at its port.
        assert scraped[name] == f"127.0.0.1:{services[name]['environment']['SABAQ_PORT']}"
    prometheus = services["prometheus"]
    assert "--web.listen-address=127.0.0.1:9090" in prometheus["command"]
    assert scraped["prometheus"] == "127.0.0.1:9090"
    mounts = [v.split(":")[0] for v in prometheus["volumes"]]
    assert "./deploy/prometheus/prometheus.yml" in mounts


def test_grafana_is_provisioned_from_deploy() -> None:
    grafana = load(ROOT / "compose.yaml")["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = load(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://127.0.0.1:9090"
    (provider,) = load(provisioning / "dashboards" / "sabaq.yml")["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "sabaq.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]


async def test_the_dashboard_asks_only_for_metrics_sabaq_exports(served: TestServer) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "sabaq.json").read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for shown in ("rooms", "participants", "packets/s", "loop lag p99", "join latency", "queues"):
        assert shown in titles, shown
    exported = names(await scrape(str(served.make_url("/metrics"))))
    assert asked, "no metric found in the dashboard's queries"
    assert asked <= exported, f"not exported by Sabaq: {sorted(asked - exported)}"
    # Every metric of Sabaq's own is on the dashboard (a new one is not forgotten).
    ours = {n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for n in exported}
    missing = {n for n in ours if n.startswith("sabaq_") and n != "sabaq_info"} - {
        n.removesuffix("_bucket").removesuffix("_count") for n in asked
    }
    assert not missing, f"not on the dashboard: {sorted(missing)}"
