"""gitops.core.drift_check through real ansible-playbook against the real local control plane:
every kind of drift found with its path and who changed it, no false drift, ignore rules,
orphans, healing, reports, Secret masking and request counts."""
from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import cm, unique_name
from lockstep import Lockstep

pytestmark = pytest.mark.integration
# the tests that run playbooks are lockstep cases: their runs share ansible-playbook start-ups (lockstep.py)
lockstep = Lockstep()


def deployment(ns, replicas=2, containers=None, labels=None, **pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns, "labels": labels or {"app": "web", "tier": "front"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": dict(
                         containers=containers or [{"name": "app", "image": "registry.invalid/web:1"}], **pod_spec)}}}


@lockstep.fixture
def set_name():
    return unique_name("d")


@lockstep.fixture
def run_module(run_tasks, set_name):
    """run_module(module, objects, **params): one run of the test's set; run_module.steps((module,
    objects, params), ...): consecutive runs with nothing between them, in one playbook."""
    def task(module, objects, check=False, **params):
        params = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}", "objects": objects, **params}
        return (module, params, {"check": check})

    def run(module, objects, check=False, **params):
        return run_tasks([task(module, objects, check, **params)])[0]

    run.steps = lambda *runs: run_tasks([task(m, objs, **(params or {})) for m, objs, params in runs])
    return run


@lockstep.fixture
def apply_then_check(run_module):
    """Apply objects with k8s_reconcile (must succeed), then drift-check them, in one playbook."""
    def run(objects, apply_params=None, **params):
        applied, checked = run_module.steps(("k8s_reconcile", objects, apply_params), ("drift_check", objects, params))
        assert not applied.get("failed"), applied.get("msg")
        return checked
    return run


@lockstep.fixture
def applied(run_module):
    """Apply objects with k8s_reconcile (must succeed)."""
    def apply(objects, **params):
        r = run_module("k8s_reconcile", objects, **params)
        assert not r.get("failed"), r.get("msg")
        return r
    return apply


@lockstep.fixture
def drift(run_module):
    def check(objects, **params):
        return run_module("drift_check", objects, **params)

    check.each = lambda objects, *params: run_module.steps(*[("drift_check", objects, p) for p in params])
    return check


def only(result, status):
    return [o for o in result["objects"] if o["status"] == status]


def field(obj, path):
    return next(d for d in obj["diffs"] if d["path"] == path)


@lockstep.case
def test_clean_cluster_reports_no_drift(apply_then_check, namespace):
    objects = [deployment(namespace), cm("a", namespace)]
    r = apply_then_check(objects)
    assert not r.get("failed"), r.get("msg")
    assert r["drift"] is False
    assert r["summary"] == {"in_sync": 2, "modified": 0, "missing": 0, "orphaned": 0, "total": 2}
    # reads, and one write: the set's drift status on its inventory (a first check; then only when it changes)
    assert set(r["api_requests"]) <= {"discovery", "list", "get", "apply"} and r["api_requests"]["apply"] == 1
    assert r["status"] == "recorded"


@lockstep.case
def test_scaled_replicas_are_drift_changed_by_kubectl_scale(applied, drift, kubectl, namespace):
    objects = [deployment(namespace, replicas=2)]
    applied(objects)
    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=5")
    r = drift(objects)
    assert r["failed"] and r["drift"]
    [obj] = only(r, "modified")
    entry = field(obj, "spec.replicas")
    assert (entry["desired"], entry["live"]) == (2, 5)
    assert entry["changed_by"] == [{"manager": "kubectl", "operation": "Update", "subresource": "scale", "time": None}]
    assert "spec.replicas: 2 -> 5 (changed by kubectl (Update via scale))" in r["msg"]


@lockstep.case
def test_patched_field_and_added_container_are_drift(applied, drift, kubectl, namespace):
    objects = [deployment(namespace)]
    applied(objects)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.invalid/web:2"},
        {"name": "sidecar", "image": "registry.invalid/miner:1"}]}}}}
    kubectl.run("-n", namespace, "patch", "deployment", "web", "--field-manager=hotfixer", "-p", json.dumps(patch))
    [obj] = only(drift(objects), "modified")
    image = field(obj, "spec.template.spec.containers[name=app].image")
    assert (image["desired"], image["live"]) == ("registry.invalid/web:1", "registry.invalid/web:2")
    assert [c["manager"] for c in image["changed_by"]] == ["hotfixer"]
    sidecar = field(obj, "spec.template.spec.containers[name=sidecar]")
    assert sidecar["desired"] is None and sidecar["live"]["image"] == "registry.invalid/miner:1"


@lockstep.case
def test_removed_label_and_removed_field_are_drift(applied, drift, kubectl, namespace):
    objects = [deployment(namespace, nodeSelector={"disk": "ssd"})]
    applied(objects)
    kubectl.run("-n", namespace, "label", "deployment", "web", "tier-")
    kubectl.run("-n", namespace, "patch", "deployment", "web", "--type=json",
                "-p", '[{"op": "remove", "path": "/spec/template/spec/nodeSelector"}]')
    [obj] = only(drift(objects), "modified")
    paths = {d["path"] for d in obj["diffs"]}
    assert {"metadata.labels.tier", "spec.template.spec.nodeSelector"} <= paths
    label = field(obj, "metadata.labels.tier")
    assert (label["desired"], label["live"]) == ("front", None)
    # Kubernetes keeps no record of who removed a field: at most a guess, never a status writer
    for guess in label["changed_by"]:
        assert guess["subresource"] != "status" and guess["note"].startswith("last writer")


@lockstep.case
def test_deleted_object_is_missing_and_extra_object_is_orphaned(applied, drift, kubectl, namespace):
    applied([cm("a", namespace), cm("b", namespace)])
    kubectl.run("-n", namespace, "delete", "configmap", "a")
    r, without_orphans = drift.each([cm("a", namespace)], {}, {"check_orphans": False})
    assert [o["ref"] for o in only(r, "missing")] == [f"ConfigMap {namespace}/a"]
    assert [o["ref"] for o in only(r, "orphaned")] == [f"ConfigMap {namespace}/b"]
    assert not only(without_orphans, "orphaned")


@lockstep.case
def test_normalised_values_are_not_drift_after_a_real_apply(run_module, namespace):
    containers = [{"name": "app", "image": "registry.invalid/web:1",
                   "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}, "requests": {"cpu": 0.1, "memory": 65536}},
                   "ports": [{"containerPort": 8080}],
                   "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]
    objects = [deployment(namespace, containers=containers, volumes=[], nodeSelector={}),
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": namespace},
                "stringData": {"password": "p4ss"}},
               {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                "metadata": {"name": "c", "namespace": namespace, "annotations": {}}}]
    # the same objects written the other way round: env reordered, Secret as data
    other_way = json.loads(json.dumps(objects))
    other_way[0]["spec"]["template"]["spec"]["containers"][0]["env"].reverse()
    other_way[2] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": namespace},
                    "data": {"password": base64.b64encode(b"p4ss").decode()}}
    applied, r = run_module.steps(("k8s_reconcile", objects, None), ("drift_check", other_way, None))
    assert not applied.get("failed"), applied.get("msg")
    assert not r.get("failed"), r.get("msg")
    assert r["summary"]["in_sync"] == 4


@pytest.mark.slow
@lockstep.case
def test_ignore_by_path_list_selector_and_manager(applied, drift, kubectl, namespace):
    objects = [deployment(namespace, replicas=2)]
    applied(objects)
    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=3")
    kubectl.run("-n", namespace, "patch", "deployment", "web", "--field-manager=image-bot", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.invalid/web:9"}]}}}}))
    plain, by_path, by_pointer_and_manager, partial, other_object = drift.each(
        objects, {},
        {"ignore": [{"kind": "Deployment", "paths": ["spec.replicas", "spec.template.spec.containers[name=app].image"]}]},
        {"ignore": [{"paths": ["/spec/replicas"]}, {"managers": ["image-bot"]}]},
        {"ignore": [{"name": "web", "managers": ["kubectl"]}]},
        {"ignore": [{"name": "not-web", "paths": ["spec"]}]})
    assert len(only(plain, "modified")[0]["diffs"]) == 2
    assert not by_path.get("failed") and by_path["drift"] is False
    assert by_pointer_and_manager["drift"] is False
    remaining = [d["path"] for d in only(partial, "modified")[0]["diffs"]]
    assert remaining == ["spec.template.spec.containers[name=app].image"]
    assert len(only(other_object, "modified")[0]["diffs"]) == 2


@lockstep.case
def test_remediate_heals_and_a_second_check_is_clean(applied, drift, kubectl, namespace):
    objects = [deployment(namespace, replicas=2), cm("a", namespace)]
    applied(objects + [cm("orphan", namespace)])
    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=7")
    kubectl.run("-n", namespace, "delete", "configmap", "a")
    r, again = drift.each(objects, {"remediate": True, "prune": True, "fail_on_drift": False}, {})
    assert not r.get("failed"), r.get("msg")
    assert r["changed"] is True
    assert sorted(r["healed"]["applied"]) == sorted([f"apps/Deployment {namespace}/web", f"ConfigMap {namespace}/a"])
    assert r["healed"]["pruned"] == [f"ConfigMap {namespace}/orphan"]
    assert not again.get("failed") and again["drift"] is False
    assert kubectl.json("-n", namespace, "get", "deployment", "web")["spec"]["replicas"] == 2


@lockstep.case
def test_check_mode_remediation_writes_nothing(applied, drift, kubectl, namespace):
    objects = [deployment(namespace, replicas=2)]
    applied(objects)
    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=4")
    r = drift(objects, remediate=True, fail_on_drift=False, check=True)
    assert r["healed"]["applied"] == [f"apps/Deployment {namespace}/web"]
    assert kubectl.json("-n", namespace, "get", "deployment", "web")["spec"]["replicas"] == 4


@lockstep.case
def test_reports_are_valid_and_match_the_result(applied, drift, kubectl, namespace, tmp_path):
    objects = [deployment(namespace), cm("a", namespace)]
    applied(objects)
    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=6")
    r, full = drift.each(objects, {"report_dir": str(tmp_path / "reports"), "revision": "abc123"},
                         {"list_in_sync": True})
    saved = json.loads(Path(r["reports"]["json"]).read_text())
    # the result lists the drifted objects only (list_in_sync: false); the report lists every object
    assert [o for o in saved["objects"] if o["status"] != "in_sync"] == r["objects"]
    assert [o["ref"] for o in r["objects"]] == ["apps/Deployment %s/web" % namespace]
    assert [o["ref"] for o in saved["objects"] if o["status"] == "in_sync"] == ["ConfigMap %s/a" % namespace]
    assert saved["summary"] == r["summary"] and saved["revision"] == "abc123"
    assert sorted(o["ref"] for o in full["objects"]) == sorted(o["ref"] for o in saved["objects"])
    suite = ET.parse(r["reports"]["junit"]).getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.find("testcase[@name='%s/web']/failure" % namespace)
    assert failure is not None and "spec.replicas: 2 -> 6" in failure.text
    md = Path(r["reports"]["md"]).read_text()
    assert md.startswith("## Drift in `") and "| `spec.replicas` | 2 | 6 | kubectl (Update via scale) |" in md


@lockstep.case
def test_secret_values_never_appear(applied, drift, kubectl, namespace, tmp_path):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
              "stringData": {"password": "git-side-s3cret"}}
    applied([secret])
    live_value = base64.b64encode(b"live-side-s3cret").decode()
    kubectl.run("-n", namespace, "patch", "secret", "db", "-p", json.dumps({"data": {"password": live_value}}))
    r = drift([secret], report_dir=str(tmp_path / "reports"))
    assert r["failed"] and "data.password: changed (values hidden)" in r["msg"]
    everything = json.dumps(r) + r["_stdout"] + "".join(Path(p).read_text() for p in r["reports"].values())
    for secret_text in ("git-side-s3cret", "live-side-s3cret", live_value,
                        base64.b64encode(b"git-side-s3cret").decode()):
        assert secret_text not in everything


@pytest.mark.slow
@lockstep.case
def test_a_thousand_object_clean_check_costs_one_list_per_kind(apply_then_check, namespace):
    objects = [cm("c%04d" % i, namespace, {"i": str(i)}) for i in range(1000)] + [deployment(namespace)]
    r = apply_then_check(objects, {"parallelism": 16})
    assert not r.get("failed"), r.get("msg")
    assert r["summary"]["in_sync"] == 1001
    assert r["api_requests"] == {"discovery": 2, "list": 2, "get": 1, "apply": 1}  # the apply: its status, once
