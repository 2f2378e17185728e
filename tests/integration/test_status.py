"""What is deployed where, and is it healthy (issue 31): k8s_reconcile and drift_check record each
set's status on its inventory, and set_info lists it - through real ansible-playbook against the real
control plane, with a real git repository: a set synced (and an unchanged re-run writing nothing), a
set whose sync failed, a set drifted by hand, a set whose Lease a run holds; the AWX job that started
them (JOB_ID and AWX_HOST, as AWX sets them); the metrics textfile parsed by prometheus-client's own
parser."""
from __future__ import annotations

import datetime
import json
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import tasks_book
from gitfixtures import Repo
from helpers import cm

pytestmark = pytest.mark.integration


def test_set_info_shows_synced_failed_drifted_and_running_sets_and_their_metrics(
        tmp_path, ansible_playbook, kubectl, namespace):
    tag = uuid.uuid4().hex[:8]
    inv = f"inv-{tag}"
    kubectl.run("create", "namespace", inv)
    git = Repo(tmp_path)
    git.commit({"apps/a.yaml": "\n---\n".join(
        json.dumps(cm(f"a{i}", namespace, {"k": "v"})) for i in range(2))}, message="apps: two maps")
    names = {k: f"{k}-{tag}" for k in ("synced", "failed", "drifted", "running")}
    base = {"kubeconfig": "{{ kubeconfig }}", "inventory_namespace": inv, "source": "{{ desired.source }}",
            "revision": "{{ desired.commit }}"}
    synced = dict(base, set_name=names["synced"], objects="{{ desired.objects }}")
    drifted = dict(base, set_name=names["drifted"], namespace=namespace,
                   objects=[cm(f"d-{tag}", namespace, {"color": "blue"})])
    good = dict(base, set_name=names["failed"], objects=[cm(f"f-{tag}", namespace)])
    bad = dict(good, objects=[cm(f"f-{tag}", namespace), cm(f"Not_A_Name-{tag}", namespace)])
    running = dict(base, set_name=names["running"], objects=[cm(f"r-{tag}", namespace)])
    textfile = tmp_path / "gitops.prom"
    book = tasks_book([
        ("git_desired_state", {"repo": git.url, "dest": str(tmp_path / "cache"), "path": ["apps"]}),
        ("k8s_reconcile", synced), ("k8s_reconcile", synced), ("k8s_reconcile", good), ("k8s_reconcile", bad),
        ("k8s_reconcile", drifted), ("k8s_reconcile", running),
    ], names=["desired", "synced", "again", "good", "bad", "drifted", "running"])
    # then a run in progress elsewhere: the running set's Lease, held and renewed now
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = tmp_path / "lease.json"
    lease.write_text(json.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": f"gitops-set-{names['running']}", "namespace": inv,
                     "labels": {"app.kubernetes.io/managed-by": "gitops.core"}},
        "spec": {"holderIdentity": "awx-ee-1/pid-9/awx-job-41", "leaseDurationSeconds": 300,
                 "acquireTime": now, "renewTime": now}}))
    book += (f"    - name: Another run holds a Lease\n      ansible.builtin.command: kubectl --kubeconfig {{{{ kubeconfig }}}} "
             f"apply -f {lease}\n      changed_when: true\n")
    book += (f"    - name: Edit by hand\n      ansible.builtin.command: kubectl --kubeconfig {{{{ kubeconfig }}}} -n "
             f"{namespace} patch configmap d-{tag} -p '{{\"data\":{{\"color\":\"red\"}}}}'\n      changed_when: true\n")
    book += tasks_book([
        ("drift_check", dict(base, set_name=names["drifted"], namespace=namespace, fail_on_drift=False,
                             objects=[cm(f"d-{tag}", namespace, {"color": "blue"})])),
        ("drift_check", dict(base, set_name=names["synced"], objects="{{ desired.objects }}")),
        ("set_info", {"kubeconfig": "{{ kubeconfig }}", "inventory_namespace": [inv], "textfile": str(textfile)}),
        ("set_info", {"kubeconfig": "{{ kubeconfig }}", "inventory_namespace": [inv], "set_name": names["failed"]}),
    ], names=["drift", "in_sync", "info", "one"]).split("  tasks:\n")[1]
    run = ansible_playbook(book, env={"JOB_ID": "77", "AWX_HOST": "https://awx.example.com"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    r = run.results
    desired = r["desired"]
    assert r["synced"]["status"] == "recorded" and r["again"]["status"] == "unchanged"
    assert "patch" not in r["again"]["api_requests"] and "create" not in r["again"]["api_requests"]  # nothing written
    assert r["bad"]["failed"] and not r["running"].get("failed")
    info = r["info"]
    assert not info.get("failed"), info.get("msg")
    sets = {s["name"]: s for s in info["sets"]}
    s = sets[names["synced"]]
    assert s["state"] == "synced" and s["revision"] == desired["commit"] and s["subject"] == "apps: two maps"
    assert s["repo"] == git.url and s["path"] == ["apps"] and s["commit_date"] == desired["commit_date"]
    assert s["objects"] == {"ConfigMap": 2} and s["object_count"] == 2
    assert s["last_sync"]["result"] == "succeeded" and s["last_sync"]["duration"] > 0
    assert s["last_sync"]["started_by"] == {"awx_job_id": "77", "awx_job_url": "https://awx.example.com/#/jobs/playbook/77"}
    assert s["drift"]["result"] == "in sync" and s["drift"]["drifted"] == 0 and s["lock"] is None
    f = sets[names["failed"]]
    assert f["state"] == "failed" and f["last_sync"]["result"] == "failed" and "Not_A_Name" in f["last_sync"]["message"]
    assert f["objects"] == {"ConfigMap": 1} and f["last_success"]["revision"] == desired["commit"]  # kept from before
    d = sets[names["drifted"]]
    assert d["state"] == "drifted" and d["drift"]["drifted"] == 1 and d["drift"]["result"] == "drift"
    g = sets[names["running"]]
    assert g["state"] == "running" and g["lock"]["holder"] == "awx-ee-1/pid-9/awx-job-41" and not g["lock"]["expired"]
    assert info["summary"] == {"sets": 4, "synced": 1, "failed": 1, "drifted": 1, "running": 1}
    assert [e["name"] for e in r["one"]["sets"]] == [names["failed"]]

    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}

    def value(metric, set_name):
        [sample] = [s for s in families[metric].samples if s.labels["set"] == set_name]
        return sample.value
    assert value("gitops_set_last_sync_success", names["synced"]) == 1
    assert value("gitops_set_last_sync_success", names["failed"]) == 0
    assert value("gitops_set_drifted_objects", names["drifted"]) == 1
    assert value("gitops_set_objects", names["synced"]) == 2
    assert value("gitops_set_locked", names["running"]) == 1 and value("gitops_set_locked", names["synced"]) == 0
    [info_sample] = [s for s in families["gitops_set_info"].samples if s.labels["set"] == names["synced"]]
    assert info_sample.labels["revision"] == desired["commit"] and info_sample.labels["result"] == "succeeded"
    kubectl.run("delete", "namespace", inv, "--wait=false", check=False)
