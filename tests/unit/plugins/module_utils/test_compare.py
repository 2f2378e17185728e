"""The comparison engine on plain objects: no false drift, no missed drift, no leaked secrets."""
from __future__ import annotations

import base64

import pytest
from ansible_collections.gitops.core.plugins.module_utils.observe.compare import (
    ABSENT, describe, diff, quantity, same_result)
from ansible_collections.gitops.core.plugins.module_utils.common.sanitize import mask_secret
from ansible_collections.gitops.core.plugins.module_utils.common.paths import dotted as path_str


def dep(containers=None, replicas=2, labels=None, **template_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": labels or {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": dict(
                containers=containers or [{"name": "app", "image": "web:1"}], **template_spec)}}}


def paths(desired, live, **kw):
    return [path_str(d.path) for d in diff(desired, live, **kw)]


@pytest.mark.parametrize("a, b", [("500m", "0.5"), ("1Gi", "1024Mi"), ("1", 1), ("2k", "2000"), ("0.1", "100m"),
                                  ("1e3", "1k")])
def test_equal_quantities(a, b):
    assert quantity(a) == quantity(b)


def test_server_defaults_and_status_are_not_drift():
    live = dep()
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["status"] = {"replicas": 2}
    live["metadata"].update(uid="u", resourceVersion="7", generation=3, creationTimestamp="2026-01-01T00:00:00Z")
    assert paths(dep(), live) == []


def test_normalised_quantities_ports_and_numbers_are_not_drift():
    desired = dep([{"name": "app", "image": "web:1", "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
                    "ports": [{"containerPort": "8080"}]}])
    live = dep([{"name": "app", "image": "web:1", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                 "ports": [{"containerPort": 8080, "protocol": "TCP"}]}], replicas=2.0)
    assert paths(desired, live) == []


def test_quantity_rules_apply_only_under_resources():
    desired = dep()
    desired["metadata"]["labels"]["size"] = "1Gi"
    live = dep()
    live["metadata"]["labels"]["size"] = "1024Mi"
    assert paths(desired, live) == ["metadata.labels.size"]


def test_empty_and_absent_are_the_same():
    desired = dep(volumes=[], nodeSelector={})
    desired["metadata"]["annotations"] = {}
    assert paths(desired, dep()) == []


def test_keyed_lists_match_in_any_order():
    a = {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
    b = {"name": "b", "image": "b:1"}
    live_a = dict(a, env=list(reversed(a["env"])))
    assert paths(dep([a, b]), dep([b, live_a])) == []


def test_changed_field_in_a_keyed_list_is_named_by_key():
    live = dep([{"name": "app", "image": "web:2"}])
    assert paths(dep(), live) == ["spec.template.spec.containers[name=app].image"]


def test_container_added_live_is_drift():
    live = dep([{"name": "app", "image": "web:1"}, {"name": "sidecar", "image": "evil:1"}])
    found = diff(dep(), live)
    assert [path_str(d.path) for d in found] == ["spec.template.spec.containers[name=sidecar]"]
    assert found[0].desired is ABSENT and found[0].live["image"] == "evil:1"


def test_removed_label_and_removed_declared_field_are_drift():
    live = dep(labels={"other": "x"})
    del live["spec"]["replicas"]
    assert sorted(paths(dep(), live)) == ["metadata.labels.app", "spec.replicas"]


def test_extra_live_label_is_not_drift():
    assert paths(dep(), dep(labels={"app": "web", "added-by-someone": "x"})) == []


def test_atomic_lists_must_match_exactly():
    desired = dep([{"name": "app", "image": "web:1", "args": ["--a", "--b"]}])
    live = dep([{"name": "app", "image": "web:1", "args": ["--b", "--a"]}])
    assert paths(desired, live) == ["spec.template.spec.containers[name=app].args"]


def test_unkeyed_lists_of_objects_compare_by_position_with_defaults_allowed():
    desired = dep(tolerations=[{"key": "k", "operator": "Exists"}])
    live = dep(tolerations=[{"key": "k", "operator": "Exists", "effect": ""}])
    assert paths(desired, live) == []
    live = dep(tolerations=[{"key": "k", "operator": "Exists"}, {"key": "z", "operator": "Exists"}])
    assert paths(desired, live) == ["spec.template.spec.tolerations"]


def test_finalizers_compare_as_a_set():
    desired = dep()
    desired["metadata"]["finalizers"] = ["a", "b"]
    live = dep()
    live["metadata"]["finalizers"] = ["b", "a"]
    assert paths(desired, live) == []


def test_fields_our_manager_applied_that_git_dropped_are_drift():
    live = dep(labels={"app": "web", "tier": "front"})
    live["metadata"]["managedFields"] = [
        {"manager": "gitops-core", "operation": "Apply", "time": "t1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
                      "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                          'k:{"name":"app"}': {".": {}, "f:name": {}, "f:image": {}}}}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "time": "t2",
         "fieldsV1": {"f:status": {"f:replicas": {}}}},
    ]
    assert paths(dep(), live, manager="gitops-core") == ["metadata.labels.tier"]
    assert paths(dep(), live, manager="someone-else") == []


def test_revision_annotation_is_never_drift():
    desired = dep()
    desired["metadata"]["annotations"] = {"gitops.core/revision": "new"}
    live = dep()
    live["metadata"]["annotations"] = {"gitops.core/revision": "old"}
    assert paths(desired, live) == []


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(**fields):
    return dict({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}}, **fields)


def test_secret_string_data_equals_the_same_data():
    assert paths(secret(stringData={"password": "p4ss"}), secret(data={"password": b64("p4ss")}, type="Opaque")) == []


def test_secret_change_is_reported_without_values():
    found = diff(secret(stringData={"password": "new-value"}), secret(data={"password": b64("old-value")}))
    [entry] = describe(found, "Secret")
    assert entry["path"] == "data.password" and entry["note"] == "changed (values hidden)"
    assert entry["desired"] == entry["live"] == "(hidden)"
    assert set(entry) == {"path", "desired", "live", "note"}  # no hash or other value-derived field
    text = repr(entry)
    assert "new-value" not in text and b64("old-value") not in text and b64("new-value") not in text


def test_mask_secret_hides_values_and_last_applied():
    masked = mask_secret(secret(data={"a": b64("x")}, metadata={"name": "s", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"a":"eA=="}}'}}))
    assert masked["data"] == {"a": "(hidden)"}
    assert masked["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "(hidden)"


def test_same_result_ignores_bookkeeping_only():
    live = dep()
    live["metadata"].update(resourceVersion="1", managedFields=[{"manager": "x"}],
                            annotations={"gitops.core/revision": "a"})
    dry = dep()
    dry["metadata"].update(resourceVersion="2", managedFields=[{"manager": "y"}],
                           annotations={"gitops.core/revision": "b"})
    assert same_result(dry, live)
    assert not same_result(dep(replicas=3), live)


def test_revision_annotation_is_never_drift_even_when_live_has_no_annotations():
    desired = dep()
    desired["metadata"]["annotations"] = {"gitops.core/revision": "abc123"}
    assert paths(desired, dep()) == []
    desired["metadata"]["annotations"]["team"] = "web"
    assert paths(desired, dep()) == ["metadata.annotations"]
