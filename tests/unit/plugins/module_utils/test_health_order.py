"""Health rules and apply order on recorded objects."""
from __future__ import annotations

from ansible_collections.gitops.core.plugins.module_utils import health, order
from ansible_collections.gitops.core.plugins.module_utils.managedfields import Key, managers_of, owned_paths
from ansible_collections.gitops.core.plugins.module_utils.objref import ObjectRef


def deployment(replicas=3, updated=3, available=3, total=3, generation=2, observed=2, **conditions):
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available,
                       "replicas": total, "conditions": [dict(type=k, **v) for k, v in conditions.items()]}}


def test_deployment_messages_say_what_is_missing():
    assert health.deployment(deployment()) == (True, "Available: 3/3")
    assert health.deployment(deployment(available=1)) == (False, "Available: 1/3")
    assert health.deployment(deployment(updated=2)) == (False, "Updated: 2/3")
    assert health.deployment(deployment(observed=1))[0] is False
    assert health.deployment(deployment(total=4)) == (False, "Pending termination: 1 old replicas")
    stuck = deployment(available=0, Progressing={"status": "False", "reason": "ProgressDeadlineExceeded"})
    assert health.deployment(stuck)[1].startswith("Failed: progress deadline exceeded")


def test_job_crd_namespace_pvc_and_generic_rules():
    assert health.job({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == (True, "Complete")
    assert health.job({"status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimit"}]}}) \
        == (False, "Failed: BackoffLimit")
    assert health.crd({"status": {"conditions": [{"type": "Established", "status": "True"}]}})[0]
    assert health.check("", "Namespace", {"status": {"phase": "Active"}})[0]
    assert health.check("", "PersistentVolumeClaim", {"status": {"phase": "Pending"}}) == (False, "phase: Pending")
    assert health.check("x.io", "Thing", {"status": {}}) == (True, "exists")
    not_ready = {"status": {"conditions": [{"type": "Ready", "status": "False", "message": "db down"}]}}
    assert health.check("x.io", "Thing", not_ready) == (False, "Ready: False (db down)")
    assert health.check("", "Service", {"spec": {"type": "LoadBalancer"}}) == (False, "LoadBalancer ingress: pending")
    assert health.check("apps", "Deployment", None) == (False, "not found")


def ref(kind, group="", ns="n", name="x"):
    return ObjectRef(group, "v1", kind, ns, name)


def test_apply_order_waves_then_dependencies_then_custom_resources():
    items = [(ref("Deployment", "apps"), {}), (ref("Widget", "x.io"), {}), (ref("Namespace", ns=""), {}),
             (ref("CustomResourceDefinition", "apiextensions.k8s.io", ns=""), {}), (ref("ConfigMap"), {}),
             (ref("Service"), {"metadata": {"annotations": {"gitops.core/wave": "-1"}}})]
    ordered = [r.kind for r, obj in sorted(items, key=lambda i: order.apply_key(*i))]
    assert ordered == ["Service", "CustomResourceDefinition", "Namespace", "ConfigMap", "Deployment", "Widget"]
    pruned = [r.kind for r, obj in sorted(items, key=lambda i: order.prune_key(*i))]
    assert pruned == list(reversed(ordered))


def test_managed_fields_paths_and_owners():
    fields = {"f:spec": {"f:replicas": {}, "f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}}}
    assert owned_paths(fields) == {("spec", "replicas"), ("spec", "containers", Key.of({"name": "app"})),
                                   ("spec", "containers", Key.of({"name": "app"}), "image")}
    obj = {"metadata": {"managedFields": [
        {"manager": "kubectl-scale", "operation": "Update", "time": "10:02", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "gitops-core", "operation": "Apply", "time": "09:00", "fieldsV1": fields}]}}
    assert [m["manager"] for m in managers_of(obj, ("spec", "replicas"))] == ["kubectl-scale", "gitops-core"]
    assert managers_of(obj, ("metadata", "labels")) == []
