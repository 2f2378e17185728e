"""Many clusters, one run: playbooks/sync.yml and drift_check.yml over an inventory with one host
per cluster (its kubeconfig as a host variable, connection local), here the shared local control
plane and a second one.  One run converges both; a drift on one fails that host only."""
from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from gitfixtures import Repo

from conftest import CLUSTER_DIR

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("second-control-plane-b")]
ROOT = Path(__file__).resolve().parents[2]


def recap(stdout):
    """{host: {ok, changed, failed, ...}} from PLAY RECAP."""
    out = {}
    for host, fields in re.findall(r"^(\S+)\s+: (ok=.*)$", stdout.split("PLAY RECAP")[-1], re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", fields)}
    return out


def test_one_run_converges_two_clusters_and_a_drift_fails_only_its_host(
        second_cluster, ansible_playbook, kubectl, tmp_path):
    cdir, kubectl_b, _control = second_cluster
    ns = "multi-" + uuid.uuid4().hex[:6]
    repo = Repo(tmp_path)
    repo.commit({"app/all.yaml": yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns},
         "data": {"mode": "gitops"}}])})
    inventory = tmp_path / "clusters.ini"
    inventory.write_text(
        "[clusters]\n"
        "cluster-a sync_kubeconfig={a} drift_kubeconfig={a}\n"
        "cluster-b sync_kubeconfig={b} drift_kubeconfig={b}\n"
        "[clusters:vars]\nansible_connection=local\nansible_python_interpreter={py}\n".format(
            a=CLUSTER_DIR / "kubeconfig", b=cdir / "kubeconfig", py=sys.executable))
    common = {"gitops_hosts": "clusters", "sync_repo": repo.url, "sync_set_name": ns, "sync_path": ["app"],
              "sync_wait": False, "drift_repo": repo.url, "drift_set_name": ns, "drift_path": ["app"]}
    args = ("-i", str(inventory), "--forks", "2")

    sync = ansible_playbook((ROOT / "playbooks" / "sync.yml").read_text(), extra_vars=common, args=args)
    assert sync.rc == 0, sync.stdout[-3000:]
    hosts = recap(sync.stdout)
    assert set(hosts) == {"cluster-a", "cluster-b"} and all(h["failed"] == 0 for h in hosts.values()), hosts
    for kc in (kubectl, kubectl_b):
        assert kc.json("-n", ns, "get", "configmap", "settings")["data"] == {"mode": "gitops"}

    kubectl_b.run("-n", ns, "patch", "configmap", "settings", "-p", '{"data": {"mode": "hand-edited"}}')
    drift = ansible_playbook((ROOT / "playbooks" / "drift_check.yml").read_text(), extra_vars=common, args=args)
    hosts = recap(drift.stdout)
    assert drift.rc != 0
    assert hosts["cluster-a"]["failed"] == 0 and hosts["cluster-b"]["failed"] == 1, hosts
    assert re.search(r"fatal: \[cluster-b\]: FAILED!.*drift in %s" % ns, drift.stdout), drift.stdout[-3000:]
    assert "fatal: [cluster-a]" not in drift.stdout
    for kc in (kubectl, kubectl_b):
        kc.run("delete", "namespace", ns, "--wait=false", check=False)
