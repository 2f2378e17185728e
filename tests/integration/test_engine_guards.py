"""The change-set engine against the real control plane: every delete and every takeover behind
the same guards, whichever module asks; the inventory remembers what it leaves in place; apply
order, health states and the connection pool.  Each test was written to fail on the engine
before issue 8 (see the docstrings) and passes now."""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest
from helpers import cm, health_of, inventory_entries, module_params, ok
from lockstep import Lockstep

pytestmark = pytest.mark.integration
# the tests that run playbooks are lockstep cases: their runs share ansible-playbook start-ups (lockstep.py)
lockstep = Lockstep()
ROOT = Path(__file__).resolve().parents[2]


def deployment(name, ns, replicas=1, **pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": dict(
                         containers=[{"name": "app", "image": "registry.invalid/web:1"}], **pod_spec)}}}


def exists(kubectl, *args):
    return kubectl.run(*args, check=False).returncode == 0


def labels(kubectl, ns, name):
    return kubectl.json("-n", ns, "get", "configmap", name)["metadata"].get("labels") or {}


@lockstep.fixture
def sets():
    """Two fresh set names."""
    tag = uuid.uuid4().hex[:8]
    return f"a{tag}", f"b{tag}"


@lockstep.fixture
def module(run_tasks):
    """module(name, set_name, objects, **params): one run; module.steps((name, set_name, objects, params), ...):
    consecutive runs with nothing between them, in one playbook."""
    def task(name, set_name, objects, check=False, **params):
        return (name, {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}", "objects": objects, **params},
                {"check": check})

    def run(name, set_name, objects, check=False, **params):
        return run_tasks([task(name, set_name, objects, check, **params)])[0]

    run.steps = lambda *runs: run_tasks([task(*r[:3], **(r[3] if len(r) > 3 else {})) for r in runs])
    return run


# ------------------------------------------------------------------ heal goes through the guards

@lockstep.case
def test_heal_with_an_empty_desired_state_deletes_nothing(module, kubectl, sets):
    """Before: drift_check remediate+prune with objects: [] deleted the whole set, Namespace included."""
    set_a = sets[0]
    ns = f"{set_a}-ns"
    first, r = module.steps(
        ("k8s_reconcile", set_a, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, cm("a", ns)]),
        ("drift_check", set_a, [], {"remediate": True, "prune": True, "fail_on_drift": False}))
    ok(first)
    assert r["failed"] and "desired set '%s' is empty; refusing to prune 2 object(s); nothing was changed" % set_a \
        in r["msg"]
    assert sorted(r["would_prune"]) == sorted([f"ConfigMap {ns}/a", f"Namespace {ns}"])
    assert exists(kubectl, "get", "namespace", ns) and exists(kubectl, "-n", ns, "get", "configmap", "a")
    ok(module("k8s_reconcile", set_a, [], allow_empty=True))


@lockstep.case
def test_heal_respects_max_deletions(module, kubectl, namespace, sets):
    set_a = sets[0]
    first, r = module.steps(
        ("k8s_reconcile", set_a, [cm("keep", namespace), cm("x", namespace), cm("y", namespace)]),
        ("drift_check", set_a, [cm("keep", namespace)],
         {"remediate": True, "prune": True, "max_deletions": 1, "fail_on_drift": False}))
    ok(first)
    assert r["failed"] and "would prune 2 objects, more than max_deletions=1; nothing was changed" in r["msg"]
    assert exists(kubectl, "-n", namespace, "get", "configmap", "x")
    healed = ok(module("drift_check", set_a, [cm("keep", namespace)], remediate=True, prune=True,
                       max_deletions=2, fail_on_drift=False))
    assert sorted(healed["healed"]["pruned"]) == [f"ConfigMap {namespace}/x", f"ConfigMap {namespace}/y"]


# ------------------------------------------------------------------ ownership between sets

@pytest.mark.slow
@lockstep.case
def test_two_sets_contending_for_one_object_refused_then_adopted_explicitly(module, kubectl, namespace, sets):
    """Before: set B silently relabelled A's object, and the two sets took it back and forth."""
    set_a, set_b = sets
    first, refused = module.steps(
        ("k8s_reconcile", set_a, [cm("shared", namespace), cm("a-only", namespace)]),
        ("k8s_reconcile", set_b, [cm("shared", namespace, {"k": "from-b"}), cm("b-only", namespace)]))
    ok(first)
    assert refused["failed"]
    assert f"set '{set_b}' declares 1 object(s) that another set owns; nothing was changed" in refused["msg"]
    assert f"ConfigMap {namespace}/shared belongs to set '{set_a}'" in refused["msg"]
    assert labels(kubectl, namespace, "shared")["gitops.core/set"] == set_a
    assert not exists(kubectl, "-n", namespace, "get", "configmap", "b-only")  # nothing written at all
    # drift_check, the same engine, refuses the same way; a check-mode adoption changes nothing
    checked, preview = module.steps(
        ("drift_check", set_b, [cm("shared", namespace)]),
        ("k8s_reconcile", set_b, [cm("shared", namespace, {"k": "from-b"})], {"adopt": True, "check": True}))
    assert "belongs to set '%s'" % set_a in checked["msg"]
    ok(preview)
    assert preview["adopted"] == [f"ConfigMap {namespace}/shared"] and labels(kubectl, namespace, "shared")[
        "gitops.core/set"] == set_a
    taken = ok(module("k8s_reconcile", set_b, [cm("shared", namespace, {"k": "from-b"})], adopt=True))
    entry = next(o for o in taken["objects"] if o["ref"] == f"ConfigMap {namespace}/shared")
    assert entry["action"] == "adopt" and f"taken over from set '{set_a}'" in entry["reason"]
    assert labels(kubectl, namespace, "shared")["gitops.core/set"] == set_b

    # A still declares it: A now fails instead of taking it back (no ping-pong)
    back, r = module.steps(("k8s_reconcile", set_a, [cm("shared", namespace), cm("a-only", namespace)]),
                           ("k8s_reconcile", set_a, [cm("a-only", namespace)]))
    assert back["failed"] and f"belongs to set '{set_b}'" in back["msg"]
    # A drops it from Git: A neither prunes it nor keeps counting it
    ok(r)
    assert r["pruned"] == [] and exists(kubectl, "-n", namespace, "get", "configmap", "shared")
    assert [e[4] for e in inventory_entries(kubectl, set_a)] == ["a-only"]
    assert kubectl.json("-n", namespace, "get", "configmap", "shared")["data"] == {"k": "from-b"}


@lockstep.case
def test_adopt_annotation_in_git_opts_in_for_one_object(module, kubectl, namespace, sets):
    set_a, set_b = sets
    wanted = cm("x", namespace, annotations={"gitops.core/adopt": "true"})
    first, refused, r = module.steps(("k8s_reconcile", set_a, [cm("x", namespace), cm("y", namespace)]),
                                     ("k8s_reconcile", set_b, [wanted, cm("y", namespace)]),
                                     ("k8s_reconcile", set_b, [wanted]))
    ok(first)
    assert refused["failed"] and f"ConfigMap {namespace}/y belongs to set '{set_a}'" in refused["msg"]
    assert f"ConfigMap {namespace}/x" not in refused["msg"]
    assert ok(r)["adopted"] == [f"ConfigMap {namespace}/x"]


@lockstep.case
def test_an_unlabelled_object_in_another_sets_inventory_is_not_taken(module, kubectl, namespace, sets):
    set_a, set_b = sets
    ok(module("k8s_reconcile", set_a, [cm("x", namespace)]))
    kubectl.run("-n", namespace, "label", "configmap", "x", "gitops.core/set-")
    r, restored = module.steps(("k8s_reconcile", set_b, [cm("x", namespace)]),
                               ("k8s_reconcile", set_a, [cm("x", namespace)]))
    assert r["failed"] and f"belongs to set '{set_a}' (by the inventory gitops-system/gitops-set-{set_a})" in r["msg"]
    # its own set restores the label it lost
    ok(restored)
    assert restored["updated"] == [f"ConfigMap {namespace}/x"]
    assert "label was removed live; restored" in restored["objects"][0]["reason"]


# ------------------------------------------------------------------ what the inventory remembers

@lockstep.case
def test_a_leaver_whose_kind_leaves_git_is_still_reported_and_can_be_pruned_later(module, kubectl, namespace, sets):
    """Before: an object left in place dropped out of the inventory; once no object of its kind was
    declared it was never listed again, neither reported as orphaned nor prunable."""
    set_a = sets[0]
    first, r = map(ok, module.steps(("k8s_reconcile", set_a, [cm("stay", namespace), deployment("old", namespace)]),
                                    ("k8s_reconcile", set_a, [cm("stay", namespace)], {"prune": False})))
    assert r["pruned"] == [] and r["inventory"]["abandoned"] == 1
    assert r["skipped_objects"] == [{"ref": f"apps/Deployment {namespace}/old", "action": "abandon",
                                     "reason": "left the set; prune is false"}]
    assert ["apps", "v1", "Deployment", namespace, "old", "abandoned"] in inventory_entries(kubectl, set_a)
    # no Deployment is declared any more, yet the drift check still finds it
    d, r = module.steps(("drift_check", set_a, [cm("stay", namespace)]),
                        ("k8s_reconcile", set_a, [cm("stay", namespace)]))
    assert d["failed"] and [o["ref"] for o in d["objects"] if o["status"] == "orphaned"] == [
        f"apps/Deployment {namespace}/old"]
    # and a run with the guard lifted prunes it
    ok(r)
    assert r["pruned"] == [f"apps/Deployment {namespace}/old"]
    assert not exists(kubectl, "-n", namespace, "get", "deployment", "old")
    assert [e[4] for e in inventory_entries(kubectl, set_a)] == ["stay"]


@lockstep.case
def test_prune_disabled_objects_stay_in_the_inventory_as_abandoned(module, kubectl, namespace, sets):
    set_a = sets[0]
    keep = cm("keep", namespace, annotations={"gitops.core/prune": "disabled"})
    for r in module.steps(("k8s_reconcile", set_a, [cm("a", namespace), keep]),
                          ("k8s_reconcile", set_a, [cm("a", namespace)])):
        ok(r)
    assert ["", "v1", "ConfigMap", namespace, "keep", "abandoned"] in inventory_entries(kubectl, set_a)
    kubectl.run("-n", namespace, "annotate", "configmap", "keep", "gitops.core/prune-")
    assert ok(module("k8s_reconcile", set_a, [cm("a", namespace)]))["pruned"] == [f"ConfigMap {namespace}/keep"]


# ------------------------------------------------------------------ reported bugs

@lockstep.case
def test_null_annotations_and_labels_in_git_are_accepted(module, namespace, sets):
    """Before: drift_check failed with 'NoneType' object has no attribute 'get'."""
    set_a = sets[0]
    obj = cm("n", namespace)
    obj["metadata"].update(annotations=None, labels=None)  # explicit nulls, as a manifest may have them
    first, r = map(ok, module.steps(("k8s_reconcile", set_a, [obj]), ("drift_check", set_a, [obj])))
    assert r["summary"]["in_sync"] == 1


@lockstep.case
def test_heal_keeps_the_revision_annotation(module, kubectl, namespace, sets):
    """Before: healing applied bodies without gitops.core/revision, and server-side apply removed it."""
    set_a = sets[0]
    ok(module("k8s_reconcile", set_a, [cm("a", namespace)], revision="rev-1"))
    kubectl.run("-n", namespace, "patch", "configmap", "a", "-p", '{"data": {"k": "hand-edit"}}')
    ok(module("drift_check", set_a, [cm("a", namespace)], remediate=True, fail_on_drift=False))
    live = kubectl.json("-n", namespace, "get", "configmap", "a")
    assert live["data"] == {"k": "v"} and live["metadata"]["annotations"]["gitops.core/revision"] == "rev-1"
    inv = kubectl.json("-n", "gitops-system", "get", "configmap", f"gitops-set-{set_a}")
    assert inv["data"]["revision"] == "rev-1"


@lockstep.case
def test_changed_secret_reports_no_value_derived_fingerprint(module, kubectl, namespace, sets, tmp_path):
    """Before: the result carried 12 hex digits of an unsalted SHA-256 of each value."""
    set_a = sets[0]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
              "stringData": {"password": "hunter2"}}
    ok(module("k8s_reconcile", set_a, [secret]))
    kubectl.run("-n", namespace, "patch", "secret", "db", "-p",
                json.dumps({"data": {"password": base64.b64encode(b"letmein").decode()}}))
    r = module("drift_check", set_a, [secret], report_dir=str(tmp_path / "reports"))
    [obj] = [o for o in r["objects"] if o["status"] == "modified"]
    assert obj["diffs"] == [{"path": "data.password", "desired": "(hidden)", "live": "(hidden)",
                             "note": "changed (values hidden)", "changed_by": obj["diffs"][0]["changed_by"]}]
    everything = json.dumps(r) + r["_stdout"] + "".join(Path(p).read_text() for p in r["reports"].values())
    for value in (b"hunter2", b"letmein", base64.b64encode(b"hunter2"), base64.b64encode(b"letmein")):
        for digest in (hashlib.sha256(value).hexdigest(), hashlib.sha256(repr(value.decode()).encode()).hexdigest()):
            assert digest[:8] not in everything
        assert value.decode() not in everything


# ------------------------------------------------------------------ order and health

@lockstep.case
def test_webhook_configuration_is_applied_after_the_service_and_deployment_serving_it(module, namespace, sets):
    set_a = sets[0]
    webhook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": f"{set_a}-guard"},
               "webhooks": [{"name": f"guard.{set_a}.example.com", "admissionReviewVersions": ["v1"],
                             "sideEffects": "None", "failurePolicy": "Ignore",
                             "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": f"{set_a}-none"}},
                             "clientConfig": {"service": {"name": "guard", "namespace": namespace, "path": "/v"}},
                             "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                        "resources": ["configmaps"]}]}]}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "guard", "namespace": namespace},
               "spec": {"selector": {"app": "guard"}, "ports": [{"port": 443, "targetPort": 8443}]}}
    r, emptied = map(ok, module.steps(("k8s_reconcile", set_a, [webhook, service, deployment("guard", namespace)]),
                                      ("k8s_reconcile", set_a, [], {"allow_empty": True})))
    assert r["created"] == [f"Service {namespace}/guard", f"apps/Deployment {namespace}/guard",
                            f"admissionregistration.k8s.io/ValidatingWebhookConfiguration {set_a}-guard"]
    assert len(emptied["pruned"]) == 3


@lockstep.case
def test_a_failed_rollout_fails_the_wait_at_once_with_the_reason(module, namespace, sets, kubectl):
    """Before: health was yes/no, and a rollout past its deadline waited out the whole timeout.
    (A quota of no pods stalls the rollout: no pod is ever made, so only the deadline tells.)"""
    set_a = sets[0]
    kubectl.run("-n", namespace, "create", "quota", "no-pods", "--hard=pods=0")
    stuck = deployment("stuck", namespace)
    stuck["spec"]["progressDeadlineSeconds"] = 1
    r = module("k8s_reconcile", set_a, [stuck], wait=True, wait_timeout=600)
    assert r["failed"] and "1 object(s) failed and will not become healthy without a change" in r["msg"]
    assert f"apps/Deployment {namespace}/stuck: progress deadline exceeded" in r["msg"]
    assert health_of(r, f"apps/Deployment {namespace}/stuck")["status"] == "Failed"


@lockstep.case
def test_a_workload_whose_pod_cannot_be_scheduled_fails_the_wait_naming_the_pod(module, namespace, sets):
    """Before: InProgress ("Available: 0/1") until the wait timed out; kstatus calls such a pod Failed."""
    stuck = deployment("unplaced", namespace, nodeSelector={"no-such-node": "x"})
    r = module("k8s_reconcile", sets[0], [stuck], wait=True, wait_timeout=60)
    assert r["failed"] and "1 object(s) failed and will not become healthy without a change" in r["msg"]
    assert f"apps/Deployment {namespace}/unplaced: " in r["msg"] and " cannot be scheduled: " in r["msg"]
    entry = health_of(r, f"apps/Deployment {namespace}/unplaced")
    assert entry["status"] == "Failed" and "pod unplaced-" in entry["message"]


@lockstep.case
def test_statefulset_with_on_delete_counts_as_healthy(module, namespace, sets):
    """Before: an OnDelete StatefulSet whose template changed never counted as healthy."""
    set_a = sets[0]
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": namespace},
           "spec": {"replicas": 1, "serviceName": "db", "updateStrategy": {"type": "OnDelete"},
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "db", "image": "registry.invalid/db:1"}]}}}}
    changed = json.loads(json.dumps(sts))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.invalid/db:2"
    first, r = map(ok, module.steps(("k8s_reconcile", set_a, [sts], {"wait": True, "wait_timeout": 90}),
                                    ("k8s_reconcile", set_a, [changed], {"wait": True, "wait_timeout": 60})))
    assert health_of(r, f"apps/StatefulSet {namespace}/db") == {
        "status": "Current", "healthy": True, "message": "Ready: 1/1 (OnDelete: pods update when deleted)"}


def test_one_connection_pool_per_run(kubeconfig, namespace, sets):
    """Before: every phase made a new thread pool, so each phase opened new TLS connections."""
    from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig as kubeconfig_loader
    from ansible_collections.gitops.core.plugins.module_utils.jobs import reconcile
    from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import Client
    set_a = sets[0]
    params = module_params("k8s_reconcile", kubeconfig=str(kubeconfig), set_name=set_a, parallelism=4, wait=True,
                           wait_timeout=60)
    objects = [cm("c%02d" % i, namespace) for i in range(12)] + [deployment("web", namespace)]
    client = Client(kubeconfig_loader.load(params), 4)
    result = reconcile.run(client, reconcile.Options.from_params(params, False, False), objects)
    assert len(result["created"]) == 13 and health_of(result, f"apps/Deployment {namespace}/web")["healthy"]
    # plan (LIST, GET), dry-run, apply, wait and the inventory all ran on the same 4 workers, plus
    # the calling thread (discovery, the inventory read, single-object steps)
    assert client.connections_made <= 4 + 1
    assert len(client.pool.pools) == 0  # every pool, and its connections, closed at the end of the run
    client = Client(kubeconfig_loader.load(params), 4)
    reconcile.run(client, reconcile.Options.from_params(dict(params, allow_empty=True), False, False), [])
