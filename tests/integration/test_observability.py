"""The agent's metrics scraped by a real Prometheus server (github.com/prometheus/prometheus v0.316.0,
built from its Go module and cached by tests/cluster/cluster.py, like the control plane): the event
source runs under the real ansible-rulebook (the drift rulebook, report only), serves its metrics, and
Prometheus' own HTTP API shows a drift appear when an object is edited by hand and clear after a sync
heals it; the example alert rules load in the server (its own rule loading) and the drift alert goes
pending; each set's status (from its inventory) is scraped beside the agent's counts."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import CALLBACK_ENV
from eda_harness import Rulebook
from gitfixtures import Repo
from helpers import unique_name, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "prometheus" / "gitops-alerts.yml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prometheus_binary() -> Path:
    """The cached build (cluster.py builds it once, keyed by the module's sums)."""
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "cluster" / "cluster.py"), "prometheus"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


class Prometheus:
    def __init__(self, work: Path, target: str):
        work.mkdir(parents=True)
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(ALERTS)],
                  "scrape_configs": [{"job_name": "gitops-agent", "static_configs": [{"targets": [target]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = work / "prometheus.log"
        self.proc = subprocess.Popen([str(prometheus_binary()), f"--config.file={work / 'prometheus.yml'}",
                                      f"--storage.tsdb.path={work / 'data'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"), start_new_session=True)

    def api(self, path: str, **query) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())["data"]

    def value(self, expr: str) -> float | None:
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited: " + self.log.read_text()[-3000:])
        try:
            result = self.api("query", query=expr)["result"]
        except OSError:
            return None
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def test_prometheus_scrapes_the_agent_and_sees_a_drift_appear_and_clear_after_a_heal(
        tmp_path, ansible_playbook, kubectl, namespace, kubeconfig):
    git = Repo(tmp_path)
    git.commit({"app/config.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "web-config", "namespace": namespace},
                                                   "data": {"color": "blue"}})}, message="web: blue")
    set_name = unique_name("obs", 6)
    common = {"set_name": set_name, "path": ["app"], "repo": git.url, "kubeconfig": str(kubeconfig)}
    role_vars = {f"{prefix}_{key}": value for prefix in ("drift", "sync") for key, value in common.items()}
    textfile = tmp_path / "gitops.prom"  # the sync role writes every set's metrics for node_exporter
    book = "- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles:\n    - gitops.core.sync\n"
    synced = ansible_playbook(book, extra_vars=dict(role_vars, sync_metrics_textfile=str(textfile)))
    assert synced.rc == 0, synced.stdout[-3000:]
    [sample] = [s for f in text_string_to_metric_families(textfile.read_text()) if f.name == "gitops_set_last_sync_success"
                for s in f.samples if s.labels["set"] == set_name]
    assert sample.value == 1

    port = free_port()
    agent = Rulebook("drift.yml", {"gitops_sets": [set_name], "gitops_kubeconfig": str(kubeconfig),
                                   "gitops_heal": False, "gitops_metrics_port": port}, role_vars, tmp_path / "agent",
                     env=CALLBACK_ENV)
    prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{port}")
    try:
        selector = f'{{set="{set_name}"}}'
        wait_until(lambda: agent.alive() or prometheus.value(f"gitops_agent_watched_objects{selector}") == 1, 120,
                   what="Prometheus scraping the agent's watch of the set")
        assert prometheus.value(f"gitops_set_last_sync_success{selector}") == 1  # the set's status, from its inventory
        assert prometheus.value(f'gitops_set_info{{set="{set_name}",result="succeeded"}}') == 1
        assert prometheus.value(f"gitops_agent_drifted_objects{selector}") == 0
        assert prometheus.value('gitops_agent_watches_connected{resource="configmaps"}') >= 1

        kubectl.run("-n", namespace, "patch", "configmap", "web-config", "-p", '{"data":{"color":"red"}}')
        wait_until(lambda: agent.alive() or prometheus.value(f"gitops_agent_drifted_objects{selector}") == 1, 60,
                   what="the drift in Prometheus")
        assert prometheus.value(f"gitops_agent_events_total{selector}") >= 2  # startup, and the edit
        wait_until(lambda: any(a["labels"].get("alertname") == "GitOpsSetDrifted" and a["labels"].get("set") == set_name
                               and a["state"] == "pending" for a in prometheus.api("alerts")["alerts"]), 30,
                   what="the drift alert pending (for: 10m)")

        healed = ansible_playbook(book, extra_vars=role_vars)  # the sync puts blue back
        assert healed.rc == 0, healed.stdout[-3000:]
        wait_until(lambda: agent.alive() or prometheus.value(f"gitops_agent_drifted_objects{selector}") == 0, 60,
                   what="the drift cleared in Prometheus after the heal")
        groups = prometheus.api("rules")["groups"]
        [group] = [g for g in groups if g["name"] == "gitops.core"]
        assert sorted(r["name"] for r in group["rules"]) == [
            "GitOpsNoSuccessfulSyncForADay", "GitOpsSetDrifted", "GitOpsSyncFailed"]
        assert all(r["health"] == "ok" for r in group["rules"]), group["rules"]
    finally:
        prometheus.stop()
        agent.stop()
