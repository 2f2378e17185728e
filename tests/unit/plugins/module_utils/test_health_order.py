"""Health rules and apply order on recorded objects."""
from __future__ import annotations

from ansible_collections.gitops.core.plugins.module_utils.engine import health, order
from ansible_collections.gitops.core.plugins.module_utils.common.paths import Key
from ansible_collections.gitops.core.plugins.module_utils.observe.managedfields import managers_of, owned_paths
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef


def deployment(replicas=3, updated=3, available=3, total=3, generation=2, observed=2, **conditions):
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available,
                       "replicas": total, "conditions": [dict(type=k, **v) for k, v in conditions.items()]}}


C, P, F, T = health.CURRENT, health.IN_PROGRESS, health.FAILED, health.TERMINATING


def check(obj):
    return health.check("apps", "Deployment", obj)


def test_deployment_messages_say_what_is_missing():
    assert check(deployment()) == (C, "Available: 3/3")
    assert check(deployment(available=1)) == (P, "Available: 1/3")
    assert check(deployment(updated=2)) == (P, "Updated: 2/3")
    assert check(deployment(observed=1))[0] == P
    assert check(deployment(total=4)) == (P, "Pending termination: 1 old replicas")


def test_a_rollout_past_its_deadline_has_failed_with_the_reason():
    stuck = deployment(available=0, Progressing={"status": "False", "reason": "ProgressDeadlineExceeded",
                                                 "message": 'ReplicaSet "web-1" has timed out progressing.'})
    assert health.check("apps", "Deployment", stuck) == (
        F, 'progress deadline exceeded: ReplicaSet "web-1" has timed out progressing.')


def test_deletion_timestamp_means_terminating_for_every_kind():
    for group, kind in (("apps", "Deployment"), ("", "ConfigMap"), ("x.io", "Thing")):
        obj = deployment()
        obj["metadata"]["deletionTimestamp"] = "2026-11-26T10:00:00Z"
        assert health.check(group, kind, obj)[0] == T


def statefulset(replicas=3, ready=3, updated=3, current="r1", update="r2", strategy=None):
    return {"metadata": {"generation": 1}, "spec": {"replicas": replicas, "updateStrategy": strategy or {}},
            "status": {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": updated,
                       "currentRevision": current, "updateRevision": update}}


def test_statefulset_with_on_delete_is_healthy_once_ready():
    on_delete = {"type": "OnDelete"}
    assert health.check("apps", "StatefulSet", statefulset(updated=0, strategy=on_delete))[0] == C
    assert health.check("apps", "StatefulSet", statefulset(ready=1, strategy=on_delete)) == (P, "Ready: 1/3")


def test_statefulset_with_a_partition_is_healthy_once_the_partition_is_updated():
    part = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    assert health.check("apps", "StatefulSet", statefulset(updated=1, strategy=part))[0] == C
    assert health.check("apps", "StatefulSet", statefulset(updated=0, strategy=part)) == (P, "Updated: 0/1 (partition 2)")
    # a plain rolling update is not done while revisions differ
    assert health.check("apps", "StatefulSet", statefulset(updated=1))[0] == P
    assert health.check("apps", "StatefulSet", statefulset(current="r2"))[0] == C


def test_job_crd_namespace_pvc_and_generic_rules():
    assert health.check("batch", "Job", {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) \
        == (C, "Complete")
    assert health.check("batch", "Job", {"status": {"conditions": [
        {"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}}) == (F, "job failed: BackoffLimitExceeded")
    assert health.check("apiextensions.k8s.io", "CustomResourceDefinition",
                        {"status": {"conditions": [{"type": "Established", "status": "True"}]}})[0] == C
    assert health.check("", "Namespace", {"status": {"phase": "Active"}})[0] == C
    assert health.check("", "PersistentVolumeClaim", {"status": {"phase": "Pending"}}) == (P, "phase: Pending")
    assert health.check("", "PersistentVolumeClaim", {"status": {"phase": "Lost"}})[0] == F
    assert health.check("", "Pod", {"status": {"phase": "Failed", "reason": "Evicted"}}) == (F, "pod failed: Evicted")
    assert health.check("x.io", "Thing", {"status": {}}) == (C, "exists")
    not_ready = {"status": {"conditions": [{"type": "Ready", "status": "False", "message": "db down"}]}}
    assert health.check("x.io", "Thing", not_ready) == (P, "Ready: False (db down)")
    stalled = {"status": {"conditions": [{"type": "Stalled", "status": "True", "message": "bad spec"}]}}
    assert health.check("x.io", "Thing", stalled) == (F, "Stalled: bad spec")
    assert health.check("", "Service", {"spec": {"type": "LoadBalancer"}}) == (P, "LoadBalancer ingress: pending")
    assert health.check("apps", "Deployment", None) == (health.NOT_FOUND, "not found")


# The status of a pod as the kubelet reports it when a container keeps exiting, and as the scheduler
# reports a pod no node can take (recorded from the API; values trimmed to what the rules read).
CRASH_LOOPING = {"metadata": {"name": "web-7d4b9-x2x"}, "status": {
    "phase": "Running", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
    "containerStatuses": [{"name": "app", "ready": False, "restartCount": 4, "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=app"}}}]}}
UNSCHEDULABLE = {"metadata": {"name": "web-7d4b9-q8r"}, "status": {"phase": "Pending", "conditions": [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
     "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}]}}


def test_a_crash_looping_or_unschedulable_pod_is_failed_at_once():
    """Before: both were InProgress until the wait timed out; kstatus calls them Failed."""
    assert health.check("", "Pod", CRASH_LOOPING) == (F, "containers in CrashLoopBackOff: app")
    assert health.check("", "Pod", UNSCHEDULABLE) == (
        F, "cannot be scheduled: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
    pending = {"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}}
    assert health.check("", "Pod", pending) == (P, "phase: Pending, not Ready")


def test_a_workload_in_progress_whose_pod_failed_is_failed_naming_the_pod():
    rolling = (P, "Available: 0/2")
    assert health.workload_with_pods(*rolling, [UNSCHEDULABLE, CRASH_LOOPING]) == (
        F, "Available: 0/2; pod web-7d4b9-q8r cannot be scheduled: 0/3 nodes are available: "
           "3 node(s) didn't match Pod's node affinity/selector.")
    assert health.workload_with_pods(*rolling, []) == rolling
    assert health.workload_with_pods(C, "Available: 2/2", [CRASH_LOOPING]) == (C, "Available: 2/2")


def test_stalled_and_reconciling_conditions_count_for_every_kind():
    """Before: read only for kinds without a rule; a controller may set them on a Deployment too."""
    ready = {"spec": {"replicas": 1}, "status": {"updatedReplicas": 1, "availableReplicas": 1, "replicas": 1}}
    assert health.check("apps", "Deployment", ready)[0] == C
    stalled = dict(ready, status=dict(ready["status"], conditions=[
        {"type": "Stalled", "status": "True", "message": "quota exceeded"}]))
    assert health.check("apps", "Deployment", stalled) == (F, "Stalled: quota exceeded")
    reconciling = dict(ready, status=dict(ready["status"], conditions=[
        {"type": "Reconciling", "status": "True", "reason": "Progressing"}]))
    assert health.check("apps", "Deployment", reconciling) == (P, "Reconciling: Progressing")


def test_pod_selector_of_a_workload():
    from ansible_collections.gitops.core.plugins.module_utils.engine.wait import pod_selector
    assert pod_selector({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web", "api"]}, {"key": "canary", "operator": "DoesNotExist"}]}}}) \
        == "a=1,b=2,tier in (web,api),!canary"
    assert pod_selector({"spec": {}}) is None


def ref(kind, group="", ns="n", name="x"):
    return ObjectRef(group, "v1", kind, ns, name)


def test_apply_order_waves_then_dependencies_then_custom_resources():
    items = [(ref("Deployment", "apps"), {}), (ref("Widget", "x.io"), {}), (ref("Namespace", ns=""), {}),
             (ref("CustomResourceDefinition", "apiextensions.k8s.io", ns=""), {}), (ref("ConfigMap"), {}),
             (ref("Service"), {"metadata": {"annotations": {"gitops.core/wave": "-1"}}})]
    ordered = [r.kind for r, obj in sorted(items, key=lambda i: order.apply_key(*i))]
    assert ordered == ["Service", "CustomResourceDefinition", "Namespace", "ConfigMap", "Deployment", "Widget"]
    pruned = [r.kind for r, obj in sorted(items, key=lambda i: order.prune_key(order.apply_key(*i)))]
    assert pruned == list(reversed(ordered))


def test_webhook_configurations_and_api_services_come_after_the_workloads_that_serve_them():
    items = [ref("ValidatingWebhookConfiguration", "admissionregistration.k8s.io", ns=""),
             ref("APIService", "apiregistration.k8s.io", ns=""),
             ref("MutatingWebhookConfiguration", "admissionregistration.k8s.io", ns=""),
             ref("Deployment", "apps"), ref("Service"), ref("Widget", "x.io")]
    ordered = [r.kind for r in sorted(items, key=lambda r: order.apply_key(r, {}))]
    assert ordered == ["Service", "Deployment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                       "APIService", "Widget"]


def test_managed_fields_paths_and_owners():
    fields = {"f:spec": {"f:replicas": {}, "f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}}}
    assert owned_paths(fields) == {("spec", "replicas"), ("spec", "containers", Key.of({"name": "app"})),
                                   ("spec", "containers", Key.of({"name": "app"}), "image")}
    obj = {"metadata": {"managedFields": [
        {"manager": "kubectl-scale", "operation": "Update", "time": "10:02", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "gitops-core", "operation": "Apply", "time": "09:00", "fieldsV1": fields}]}}
    assert [m["manager"] for m in managers_of(obj, ("spec", "replicas"))] == ["kubectl-scale", "gitops-core"]
    assert managers_of(obj, ("metadata", "labels")) == []
