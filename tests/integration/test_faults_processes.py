"""Faults made by killing real processes: the API server killed in the middle of a 1,000-object
apply, etcd stopped under a reconcile and a drift check.  They run on a control plane of their own
(conftest's second_cluster: a second instance of the local one, started with CLUSTER_DIR), so the shared one never
goes down under the other tests.  Each fault: the run fails cleanly or rides it out; a normal
re-run converges; nothing is lost, duplicated or wrongly pruned; the inventory never lists less
than what is live and owned."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from conftest import one_task_book as book
from helpers import inventory_keys

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.xdist_group("second-control-plane")]


def write_set(path: Path, ns: str, n: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "ns.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    for i in range(n):
        (path / ("cm-%04d.json" % i)).write_text(json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%04d" % i, "namespace": ns},
             "data": {"i": str(i)}}))
    return path


def live_owned(kc, set_name):
    """Keys of every live object carrying the set's label (the ones the set owns)."""
    selector = "gitops.core/set=" + set_name
    return {(kind, o["metadata"].get("namespace") or "", o["metadata"]["name"])
            for kind, resource in (("ConfigMap", "configmaps"), ("Namespace", "namespaces"))
            for o in kc.items(resource, selector=selector)}


def applied_counter(cdir, ns):
    """count(kc, ns) without a kubectl process per call: the collection's own client, one LIST."""
    from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
    from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS, Client
    client = Client(kubeconfig.load({"kubeconfig": str(cdir / "kubeconfig")}), 1)
    return lambda: len(client.list(CONFIG_MAPS, namespace=ns, label_selector="gitops.core/set"))


def count(kc, ns):
    got = kc.run("-n", ns, "get", "configmaps", "-l", "gitops.core/set", "-o", "name", check=False)
    return len(got.stdout.split()) if got.returncode == 0 else 0


@pytest.mark.parametrize("down", [2, 15], ids=["brief-outage", "outage-beyond-the-retry-budget"])
def test_api_server_killed_during_a_1000_object_apply_then_restarted(second_cluster, ansible_playbook, tmp_path, down):
    cdir, kc, control = second_cluster
    tag = uuid.uuid4().hex[:6]
    set_name, ns = "kill-" + tag, "kill-" + tag
    n = 1000
    src = write_set(tmp_path / "src", ns, n)
    params = {"set_name": set_name, "src": str(src), "lock_duration": 5, "parallelism": 8}
    extra = {"kubeconfig": str(cdir / "kubeconfig")}
    running = ansible_playbook.start(book("k8s_reconcile", params), extra_vars=extra)
    deadline = time.monotonic() + 120
    applied = applied_counter(cdir, ns)  # in-process: a kubectl start-up per poll was slower than the apply
    while applied() < 20:  # the apply stage is under way (and far from done: 1,000 objects)
        assert time.monotonic() < deadline and running.proc.poll() is None, running.wait().stdout
        time.sleep(0.1)
    control("kill", "kube-apiserver")
    killed_at = time.monotonic()
    if down > 10:  # longer than the retry budget: the run must fail, cleanly, while the server is down
        first = running.wait(timeout=300)
        control("restart", "kube-apiserver")
    else:
        time.sleep(down)
        control("restart", "kube-apiserver")
        first = running.wait(timeout=300)
    r = first.results["r"]
    if down > 10:
        assert r.get("failed"), "the run should have spent its retries while the API server was down"
    if r.get("failed"):  # failed cleanly: one message naming the API server, no traceback
        assert "cannot reach the API server" in r["msg"] and "attempts" in r["msg"], r["msg"]
        assert "Traceback" not in first.stdout
    # the inventory lists every object the interrupted run left live and owned
    assert live_owned(kc, set_name) <= inventory_keys(kc, set_name)
    again = ansible_playbook(book("k8s_reconcile", params), extra_vars=extra).results["r"]
    converged = time.monotonic() - killed_at
    assert not again.get("failed"), again.get("msg")
    assert again["pruned"] == [] and len(again["created"]) + len(again["updated"]) + again["unchanged"] == n + 1
    assert count(kc, ns) == n and len(live_owned(kc, set_name)) == n + 1
    assert inventory_keys(kc, set_name) == live_owned(kc, set_name)
    print("api server kill (%ds down): first run %s; converged %.1fs after the kill (re-run waited %.1fs for the "
          "lock)" % (down, "failed: " + r["msg"][:200] if r.get("failed") else "rode it out", converged,
                     again["lock"]["waited"]))


@pytest.mark.parametrize("module", ["k8s_reconcile", "drift_check"])
def test_etcd_stopped_and_restarted_under_a_run(second_cluster, ansible_playbook, tmp_path, module):
    cdir, kc, control = second_cluster
    tag = uuid.uuid4().hex[:6]
    set_name, ns = "etcd-" + tag, "etcd-" + tag
    src = write_set(tmp_path / "src", ns, 80)
    params = {"set_name": set_name, "src": str(src), "lock_duration": 5}
    extra = {"kubeconfig": str(cdir / "kubeconfig")}
    assert not ansible_playbook(book("k8s_reconcile", params), extra_vars=extra).results["r"].get("failed")
    write_set(src, ns, 100)  # 20 more objects for the run under fault to create
    (src / "cm-0000.json").unlink()  # and one to prune
    run_params = dict(params, **({"remediate": True, "prune": True, "fail_on_drift": False}
                                 if module == "drift_check" else {}))
    control("kill", "etcd")
    started = time.monotonic()
    running = ansible_playbook.start(book(module, run_params), extra_vars=extra)
    time.sleep(3)
    control("restart", "etcd")
    first = running.wait(timeout=300)
    r = first.results["r"]
    if r.get("failed"):
        assert "Traceback" not in first.stdout and r["msg"], first.stdout[-2000:]
    assert live_owned(kc, set_name) <= inventory_keys(kc, set_name) | {("ConfigMap", ns, "cm-0000")}
    final = ansible_playbook(book("k8s_reconcile", params), extra_vars=extra).results["r"]
    assert not final.get("failed"), final.get("msg")
    assert count(kc, ns) == 99 and inventory_keys(kc, set_name) == live_owned(kc, set_name)
    clean = ansible_playbook(book("drift_check", params), extra_vars=extra).results["r"]
    assert not clean.get("failed") and not clean["drift"], clean.get("msg")
    print("etcd stop under %s: first run %s; converged %.1fs after the stop"
          % (module, "failed: " + r["msg"][:160] if r.get("failed") else "rode it out", time.monotonic() - started))
