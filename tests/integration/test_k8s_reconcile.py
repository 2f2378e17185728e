"""gitops.core.k8s_reconcile through real ansible-playbook against the real local control plane."""
from __future__ import annotations

import json

import pytest
from helpers import cm, health_of, inventory_entries, ok, unique_name
from lockstep import Lockstep

pytestmark = pytest.mark.integration
# every test here is a lockstep case: their runs share ansible-playbook start-ups (lockstep.py)
lockstep = Lockstep()

WRITE_VERBS = ("apply", "delete", "create", "update", "patch")


def deployment(name, ns, replicas=1, node_selector=None, image="registry.invalid/web:1"):
    spec = {"containers": [{"name": "app", "image": image, "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                            "ports": [{"containerPort": 8080}]}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def writes(result):
    return {verb: n for verb, n in result["api_requests"].items() if verb in WRITE_VERBS}


@lockstep.fixture
def set_name():
    return unique_name("t")


@lockstep.fixture
def reconcile(run_tasks, set_name):
    """reconcile(objects, **params): one run of the test's set; reconcile.steps({...}, {...}):
    consecutive runs (each a dict of reconcile's arguments) in one playbook."""
    def task(objects, check=False, diff=False, **params):
        params = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}", "objects": objects, **params}
        return ("k8s_reconcile", params, {"check": check, "diff": diff})

    def run(objects, check=False, diff=False, **params):
        return run_tasks([task(objects, check, diff, **params)])[0]

    run.steps = lambda *runs: run_tasks([task(**r) for r in runs])
    return run


@lockstep.case
def test_create_then_rerun_is_a_no_op_without_writes(reconcile, kubectl, namespace):
    objects = [cm("a", namespace), cm("b", namespace), deployment("web", namespace)]
    first, second = map(ok, reconcile.steps({"objects": objects, "revision": "rev1"},
                                            {"objects": objects, "revision": "rev1"}))
    assert first["changed"] is True
    assert sorted(first["created"]) == sorted([f"ConfigMap {namespace}/a", f"ConfigMap {namespace}/b",
                                               f"apps/Deployment {namespace}/web"])
    live = kubectl.json("-n", namespace, "get", "configmap", "a")
    assert live["metadata"]["labels"]["gitops.core/set"] == first["inventory"]["name"][len("gitops-set-"):]
    assert live["metadata"]["annotations"]["gitops.core/revision"] == "rev1"
    assert second["changed"] is False and second["unchanged"] == 3
    assert writes(second) == {}
    # the cost rule: one LIST per kind plus the inventory read, discovery aside
    assert second["api_requests"]["list"] == 2 and second["api_requests"].get("get", 0) == 1


@lockstep.case
def test_a_first_apply_finds_existing_objects_with_lists_not_a_get_each(reconcile, kubectl, namespace, set_name):
    """Desired objects the set-label LIST does not find are looked up per kind and namespace with one
    LIST (a lone object with a GET); objects in a Namespace the set itself creates are not looked up."""
    new_a, new_b = f"{set_name}-a", f"{set_name}-b"
    for name in ("old-1", "old-2"):  # exist already, unlabelled: found by the LIST, adopted
        kubectl.run("-n", namespace, "create", "configmap", name, "--from-literal=k=old")
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in (new_a, new_b)]
    objects += [cm(f"c{i}", new_a) for i in range(12)]
    objects += [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}", "namespace": new_b},
                 "stringData": {"k": "v"}} for i in range(4)]
    objects += [cm(name, namespace) for name in ("old-1", "old-2", "new-1", "new-2")]
    objects.append(deployment("web", namespace))
    try:
        r = ok(reconcile(objects))
        adopted = sorted(o["ref"] for o in r["objects"] if o["action"] == "update")
        assert adopted == [f"ConfigMap {namespace}/old-1", f"ConfigMap {namespace}/old-2"], r["objects"]
        assert all(o["reason"] == "adopted: no set managed it before; takes over fields from kubectl-create"
                   for o in r["objects"] if o["action"] == "update")
        assert len(r["created"]) == len(objects) - 2
        requests = r["api_requests"]
        assert requests["apply-dry-run"] == len(objects)
        # one object each: a dry-run and an apply; GETs only for the lone Deployment, the two
        # Namespaces and the inventory (a GET per object would be 25 more)
        assert requests["get"] <= 5, requests
        assert kubectl.json("-n", namespace, "get", "configmap", "old-1")["data"] == {"k": "v"}
    finally:
        kubectl.run("delete", "namespace", new_a, new_b, "--wait=false", check=False)


@lockstep.case
def test_one_changed_field_updates_only_that_object(reconcile, kubectl, namespace):
    objects = [cm("a", namespace), deployment("web", namespace, replicas=1)]
    changed = [objects[0], deployment("web", namespace, replicas=3)]
    r = ok(reconcile.steps({"objects": objects}, {"objects": changed})[1])
    assert r["updated"] == [f"apps/Deployment {namespace}/web"] and r["created"] == [] and r["unchanged"] == 1
    entry = next(o for o in r["objects"] if o["action"] == "update")
    assert {"path": "spec.replicas", "desired": 3, "live": 1} in entry["diffs"]
    assert writes(r) == {"apply": 1}
    assert kubectl.json("-n", namespace, "get", "deployment", "web")["spec"]["replicas"] == 3


@lockstep.case
def test_a_field_removed_from_git_is_removed_live(reconcile, kubectl, namespace):
    first, r = map(ok, reconcile.steps({"objects": [cm("a", namespace, {"keep": "1", "drop": "2"})]},
                                       {"objects": [cm("a", namespace, {"keep": "1"})]}))
    assert r["updated"] == [f"ConfigMap {namespace}/a"]
    assert kubectl.json("-n", namespace, "get", "configmap", "a")["data"] == {"keep": "1"}


@lockstep.case
def test_object_removed_from_git_is_pruned_and_inventory_shrinks(reconcile, kubectl, namespace, set_name):
    first, r = map(ok, reconcile.steps({"objects": [cm("a", namespace), cm("b", namespace)]},
                                       {"objects": [cm("a", namespace)]}))
    assert r["pruned"] == [f"ConfigMap {namespace}/b"]
    assert kubectl.run("-n", namespace, "get", "configmap", "b", check=False).returncode != 0
    assert inventory_entries(kubectl, set_name) == [["", "v1", "ConfigMap", namespace, "a"]]


@lockstep.case
def test_prune_disabled_annotation_is_respected(reconcile, kubectl, namespace):
    keep = cm("keep", namespace, annotations={"gitops.core/prune": "disabled"})
    first, r = map(ok, reconcile.steps({"objects": [cm("a", namespace), keep]}, {"objects": [cm("a", namespace)]}))
    assert r["pruned"] == []
    assert r["skipped_objects"] == [{"ref": f"ConfigMap {namespace}/keep", "action": "abandon",
                                     "reason": "left the set; annotation gitops.core/prune: disabled"}]
    assert kubectl.run("-n", namespace, "get", "configmap", "keep", check=False).returncode == 0


@lockstep.case
def test_object_whose_set_label_moved_is_not_pruned(reconcile, kubectl, namespace):
    ok(reconcile([cm("a", namespace), cm("moved", namespace)]))
    kubectl.run("-n", namespace, "label", "configmap", "moved", "gitops.core/set=another-set", "--overwrite")
    r = ok(reconcile([cm("a", namespace)]))
    assert r["pruned"] == [] and "another-set" in r["skipped_objects"][0]["reason"]
    assert kubectl.run("-n", namespace, "get", "configmap", "moved", check=False).returncode == 0


@lockstep.case
def test_empty_desired_set_is_refused_without_allow_empty(reconcile, kubectl, namespace):
    first, r = reconcile.steps({"objects": [cm("a", namespace)]}, {"objects": []})
    ok(first)
    assert r["failed"] and "is empty; refusing to prune 1 object(s)" in r["msg"]
    assert kubectl.run("-n", namespace, "get", "configmap", "a", check=False).returncode == 0
    r = ok(reconcile([], allow_empty=True))
    assert r["pruned"] == [f"ConfigMap {namespace}/a"]


@lockstep.case
def test_max_deletions_refusal_lists_the_objects_and_changes_nothing(reconcile, kubectl, namespace):
    first, r = reconcile.steps({"objects": [cm(n, namespace) for n in "abcd"]},
                               {"objects": [cm("a", namespace), cm("e", namespace)], "max_deletions": 2})
    ok(first)
    assert r["failed"] and "would prune 3 objects, more than max_deletions=2" in r["msg"]
    for name in "bcd":
        assert f"ConfigMap {namespace}/{name}" in r["msg"]
    assert kubectl.run("-n", namespace, "get", "configmap", "e", check=False).returncode != 0
    assert kubectl.run("-n", namespace, "get", "configmap", "b", check=False).returncode == 0


@lockstep.case
def test_crd_and_its_custom_resource_in_one_run(reconcile, kubectl, namespace, set_name):
    group = f"{set_name}.example.com"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "size": {"type": "integer"}}}}}}}]}}
    widgets = [{"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": n, "namespace": namespace},
                "spec": {"size": 3}} for n in ("w1", "w2", "w3")]
    r = ok(reconcile(widgets + [crd]))
    assert r["created"] == [f"apiextensions.k8s.io/CustomResourceDefinition widgets.{group}"] + [
        f"{group}/Widget {namespace}/{n}" for n in ("w1", "w2", "w3")]
    assert kubectl.json("-n", namespace, "get", f"widgets.{group}", "w2")["spec"]["size"] == 3
    # discovery: once at start, once on the first unknown kind, once after the CRD is Established
    assert r["api_requests"]["discovery"] == 6
    again, emptied = map(ok, reconcile.steps({"objects": widgets + [crd]}, {"objects": [], "allow_empty": True}))
    assert writes(again) == {}
    pruned = emptied["pruned"]  # custom resources go before their CRD
    assert pruned[-1] == f"apiextensions.k8s.io/CustomResourceDefinition widgets.{group}"


@lockstep.case
def test_a_crd_whose_names_are_refused_fails_at_once_with_the_reason(reconcile, kubectl, set_name):
    """Before: apply waited its own 60 s for Established and lost the reason; now the one wait
    verb fails as soon as the API server refuses the names (NamesAccepted=False)."""
    group = f"{set_name}.example.com"

    def crd(plural):
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.{group}"},
                "spec": {"group": group, "scope": "Namespaced", "names": {"plural": plural, "kind": "Sprocket"},
                         "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                             "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    kubectl.run("apply", "-f", "-", input=json.dumps(crd("widgets")))
    try:
        r = reconcile([crd("gizmos")])
        assert r["failed"] and "1 object(s) failed and will not become healthy without a change" in r["msg"]
        assert f"CustomResourceDefinition gizmos.{group}: names not accepted: " in r["msg"]
        assert '" is already in use' in r["msg"]  # the API server's reason (KindConflict or ListKindConflict)
    finally:
        kubectl.run("delete", "crd", f"widgets.{group}", f"gizmos.{group}", "--ignore-not-found", "--wait=false")


@lockstep.case
def test_namespace_created_in_the_same_run_as_its_objects(reconcile, kubectl, set_name):
    ns = f"{set_name}-ns"
    objects = [cm("a", ns), deployment("web", ns), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    r, emptied = map(ok, reconcile.steps({"objects": objects}, {"objects": [], "allow_empty": True}))
    assert r["created"][0] == f"Namespace {ns}" and len(r["created"]) == 3
    assert len(emptied["pruned"]) == 3


@lockstep.case
def test_a_bad_object_leaves_the_cluster_untouched(reconcile, kubectl, namespace):
    bad = deployment("bad", namespace)
    bad["spec"]["replicas"] = "three"
    sources = [{"file": "apps/good.yaml", "document": 1}, {"file": "apps/bad.yaml", "document": 2}]
    r = reconcile([cm("good", namespace), bad], sources=sources)
    assert r["failed"]
    assert f"apps/Deployment {namespace}/bad (apps/bad.yaml, document 2)" in r["msg"]
    assert "nothing was applied" in r["msg"] and "spec.replicas" in r["msg"]
    assert kubectl.run("-n", namespace, "get", "configmap", "good", check=False).returncode != 0


@lockstep.case
def test_unknown_kind_is_refused_before_any_write(reconcile, kubectl, namespace):
    thing = {"apiVersion": "nope.example.com/v1", "kind": "Thing", "metadata": {"name": "x", "namespace": namespace}}
    r = reconcile([cm("good", namespace), thing])
    assert r["failed"] and "does not serve nope.example.com/v1 Thing" in r["msg"]
    assert kubectl.run("-n", namespace, "get", "configmap", "good", check=False).returncode != 0


@lockstep.case
def test_conflict_with_another_field_manager(reconcile, kubectl, namespace):
    ok(reconcile([deployment("web", namespace, replicas=1)]))
    kubectl.run("-n", namespace, "apply", "--server-side", "--field-manager=hand-edit", "--force-conflicts",
                "-f", "-", input=json.dumps(deployment("web", namespace, replicas=4)))
    refused = reconcile([deployment("web", namespace, replicas=2)], force_conflicts=False)
    assert refused["failed"] and "conflict" in refused["msg"] and "hand-edit" in refused["msg"]
    assert ".spec.replicas" in refused["msg"]
    assert kubectl.json("-n", namespace, "get", "deployment", "web")["spec"]["replicas"] == 4
    forced = ok(reconcile([deployment("web", namespace, replicas=2)], force_conflicts=True))
    assert forced["updated"] == [f"apps/Deployment {namespace}/web"]
    assert kubectl.json("-n", namespace, "get", "deployment", "web")["spec"]["replicas"] == 2


@lockstep.case
def test_check_mode_writes_nothing_and_predicts_the_real_run(reconcile, kubectl, namespace, set_name):
    nxt = [cm("stay", namespace), cm("change", namespace, {"k": "new"}), cm("new", namespace)]
    first, predicted = map(ok, reconcile.steps({"objects": [cm("stay", namespace), cm("change", namespace),
                                                            cm("go", namespace)]},
                                               {"objects": nxt, "check": True}))
    assert writes(predicted) == {}
    assert kubectl.json("-n", namespace, "get", "configmap", "change")["data"] == {"k": "v"}
    assert kubectl.run("-n", namespace, "get", "configmap", "go", check=False).returncode == 0
    assert len(inventory_entries(kubectl, set_name)) == 3
    real = ok(reconcile(nxt))
    for key in ("created", "updated", "pruned", "unchanged", "changed"):
        assert predicted[key] == real[key], key


@lockstep.case
def test_diff_mode_masks_secret_values(reconcile, namespace):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": namespace},
              "stringData": {"password": "hunter2-very-secret"}}
    rotated = dict(secret, stringData={"password": "rotated-also-secret"})
    first, second = map(ok, reconcile.steps({"objects": [secret], "diff": True}, {"objects": [rotated], "diff": True}))
    for r in (first, second):
        dumped = json.dumps(r) + r["_stdout"]
        assert "hunter2-very-secret" not in dumped and "rotated-also-secret" not in dumped
        assert "aHVudGVyMi12ZXJ5LXNlY3JldA" not in dumped  # nor base64
    assert second["updated"] == [f"Secret {namespace}/creds"]
    assert "password: (hidden)" in second["diff"][0]["after"]
    entry = next(o for o in second["objects"] if o["action"] == "update")
    assert entry["diffs"][0]["path"] == "data.password" and entry["diffs"][0]["note"] == "changed (values hidden)"


@lockstep.case
def test_an_api_error_about_a_secret_never_quotes_its_values(reconcile, namespace):
    """The API server quotes a non-string stringData value in its refusal (as Argo CD's CVE-2025-23216
    showed, such messages leak); the message keeps the object and field, not the value."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pin", "namespace": namespace},
              "stringData": {"pin": 987654321, "note": "plain-secret-text"}}
    r = reconcile([secret])
    assert r["failed"] and f"Secret {namespace}/pin" in r["msg"] and ".stringData.pin: expected string" in r["msg"]
    everything = json.dumps(r) + r["_stdout"]
    for value in ("987654321", "plain-secret-text", "OTg3NjU0MzIx"):
        assert value not in everything


@lockstep.case
def test_wait_succeeds_when_kwok_makes_the_deployment_available(reconcile, namespace):
    r = ok(reconcile([deployment("web", namespace, replicas=2)], wait=True, wait_timeout=90))
    assert health_of(r, f"apps/Deployment {namespace}/web") == {"status": "Current", "healthy": True,
                                                                "message": "Available: 2/2"}


@lockstep.case
def test_wait_times_out_with_the_reason(reconcile, kubectl, namespace):
    # a quota of no pods: the rollout makes no pod (so none can fail) and never progresses
    kubectl.run("-n", namespace, "create", "quota", "no-pods", "--hard=pods=0")
    stuck = deployment("stuck", namespace, replicas=2)
    r = reconcile([stuck], wait=True, wait_timeout=5)
    assert r["failed"] and "timed out after 5s waiting for 1 object(s) to become healthy" in r["msg"]
    assert f"apps/Deployment {namespace}/stuck: Updated: 0/2" in r["msg"]


@lockstep.case
def test_rbac_limited_credentials_get_a_clear_error(reconcile, kubectl, namespace, cluster_state):
    kubectl.run("-n", namespace, "create", "serviceaccount", "limited")
    kubectl.run("-n", namespace, "create", "role", "cm-read", "--verb=get,list", "--resource=configmaps")
    kubectl.run("-n", namespace, "create", "rolebinding", "limited", "--role=cm-read",
                f"--serviceaccount={namespace}:limited")
    token = kubectl.run("-n", namespace, "create", "token", "limited").stdout.strip()
    r = reconcile([cm("a", namespace)], kubeconfig=None, host=cluster_state["server"], api_key=token,
                  ca_cert=str(kubectl.kubeconfig.parent / "pki" / "ca.crt"))
    assert r["failed"] and "forbidden" in r["msg"]
    assert f"system:serviceaccount:{namespace}:limited" in r["msg"]
    assert token not in json.dumps(r) and token not in r["_stdout"]
