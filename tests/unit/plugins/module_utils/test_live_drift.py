"""What the event source k8s_drift decides from watch events (live_drift.py), on recorded managedFields:
another manager's write is drift, gitops.core's own apply, a status write and Git dropping a field
are not; events carry paths and managers, never values."""
from __future__ import annotations

import copy
import json

from ansible_collections.gitops.core.plugins.module_utils.observe import live_drift
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef

MANAGER = "gitops-core"


def deployment(*entries, replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "app", "labels": {"gitops.core/set": "prod"},
                         "managedFields": list(entries)},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas}}


def entry(manager, fields, time, operation="Update", subresource=None):
    out = {"manager": manager, "operation": operation, "time": time, "fieldsV1": fields}
    if subresource:
        out["subresource"] = subresource
    return out


OURS = entry(MANAGER, {"f:spec": {"f:replicas": {}, "f:template": {}}}, "2026-01-01T00:00:00Z", "Apply")
OURS_NO_REPLICAS = entry(MANAGER, {"f:spec": {"f:template": {}}}, "2026-01-01T00:00:00Z", "Apply")


def tracker(first):
    t = live_drift.Tracker(["prod"], MANAGER)
    assert t.observe("MODIFIED", first, listed=True) is None
    return t


def test_kubectl_scale_is_drift_naming_the_field_and_the_manager():
    t = tracker(deployment(OURS))
    scaled = deployment(OURS_NO_REPLICAS, entry("kubectl", {"f:spec": {"f:replicas": {}}}, "2026-01-01T00:01:00Z",
                                                subresource="scale"), replicas=5)
    change = t.observe("MODIFIED", scaled)
    assert (change.change, change.fields, change.managers) == ("modified", ["spec.replicas"], ["kubectl"])
    event = live_drift.event(change)
    assert event["gitops"]["ref"] == "apps/Deployment app/web" and "5" not in json.dumps(event)


def test_status_writes_our_own_apply_and_git_dropping_a_field_are_not_drift():
    t = tracker(deployment(OURS))
    status = deployment(OURS, entry("kube-controller-manager", {"f:status": {"f:replicas": {}}},
                                    "2026-01-01T00:02:00Z", subresource="status"))
    assert t.observe("MODIFIED", status) is None
    reapplied = deployment(entry(MANAGER, OURS["fieldsV1"], "2026-01-01T00:03:00Z", "Apply"))
    assert t.observe("MODIFIED", reapplied) is None
    dropped = deployment(entry(MANAGER, OURS_NO_REPLICAS["fieldsV1"], "2026-01-01T00:04:00Z", "Apply"))
    assert t.observe("MODIFIED", dropped) is None  # nobody owns spec.replicas, and we wrote last


def test_a_secret_edited_by_hand_is_drift_on_its_data_key():
    ours = entry(MANAGER, {"f:stringData": {"f:password": {}}}, "2026-01-01T00:00:00Z", "Apply")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "app",
                                                                 "labels": {"gitops.core/set": "prod"},
                                                                 "managedFields": [ours]}}
    t = tracker(secret)
    edited = copy.deepcopy(secret)
    edited["metadata"]["managedFields"].append(entry("kubectl-patch", {"f:data": {"f:password": {}}},
                                                     "2026-01-01T00:05:00Z"))
    change = t.observe("MODIFIED", edited)
    assert (change.fields, change.managers) == (["data.password"], ["kubectl-patch"])
    # a heal (our apply after the edit) settles it; an edit after the heal does not
    healed = copy.deepcopy(edited)
    healed["metadata"]["managedFields"][0]["time"] = "2026-01-01T00:06:00Z"
    assert ("data", "password") in live_drift.declared_now(healed, MANAGER)
    assert ("data", "password") not in live_drift.declared_now(edited, MANAGER)


def test_deleted_and_unrecorded_objects_and_other_sets():
    t = tracker(deployment(OURS))
    assert t.observe("DELETED", deployment(OURS)).change == "deleted"
    stranger = deployment(entry("kubectl-client-side-apply", {"f:spec": {}}, "2026-01-01T00:00:00Z"))
    stranger["metadata"]["name"] = "sneaky"
    change = t.observe("ADDED", stranger)
    assert (change.change, change.managers) == ("unrecorded", ["kubectl-client-side-apply"])
    t.record_inventory("prod", [ObjectRef("apps", "v1", "Deployment", "app", "recorded")])
    created = deployment(OURS)
    created["metadata"]["name"] = "recorded"
    assert t.observe("ADDED", created) is None  # applied by the set
    other = deployment(OURS)
    other["metadata"]["labels"]["gitops.core/set"] = "staging"
    assert t.observe("DELETED", other) is None


def test_a_relist_reports_what_was_deleted_while_the_watch_was_away():
    from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import Resource
    t = tracker(deployment(OURS))
    other = deployment(OURS)
    other["metadata"]["namespace"] = "elsewhere"
    t.observe("MODIFIED", other, listed=True)
    deployments = Resource("apps", "v1", "Deployment", "deployments", True, ())
    assert t.relisted(deployments, "elsewhere", {("apps", "Deployment", "elsewhere", "web")}) == []
    gone = t.relisted(deployments, None, {("apps", "Deployment", "elsewhere", "web")})
    assert [(c.set, str(c.ref), c.change) for c in gone] == [("prod", "apps/Deployment app/web", "deleted")]
    assert t.relisted(deployments, None, set()) != [] and t.relisted(deployments, None, set()) == []


def test_a_burst_merges_into_one_change():
    ref = ObjectRef("apps", "v1", "Deployment", "app", "web")
    first = live_drift.Change("prod", ref, "modified", ["kubectl"], ["spec.replicas"])
    second = live_drift.Change("prod", ref, "modified", ["kubectl-edit"], ["spec.template.spec.containers[name=web].image"])
    merged = live_drift.merge(first, live_drift.merge(second, live_drift.Change("prod", ref, "deleted", [], [])))
    assert merged.change == "deleted" and merged.managers == ["kubectl", "kubectl-edit"] and len(merged.fields) == 2


def test_what_a_gitops_core_run_settled_drops_out_of_a_change():
    ref = ObjectRef("apps", "v1", "Deployment", "app", "web")
    deleted = live_drift.Change("prod", ref, "deleted", [], [])
    assert live_drift.still_drift(deleted, MANAGER, recorded={ref.key}) == deleted  # still recorded: a deletion
    assert live_drift.still_drift(deleted, MANAGER, recorded=set()) is None          # the inventory dropped it: a prune
    scaled = live_drift.Change("prod", ref, "modified", ["kubectl"], ["spec.replicas", "spec.paused"])
    healed = deployment(entry(MANAGER, {"f:spec": {"f:replicas": {}}}, "2026-01-01T00:09:00Z", "Apply"))
    assert live_drift.still_drift(scaled, MANAGER, live=healed).fields == ["spec.paused"]
    assert live_drift.still_drift(scaled._replace(fields=["spec.replicas"]), MANAGER, live=healed) is None
    assert live_drift.still_drift(scaled, MANAGER, live=None) == scaled  # the object is gone: as seen


def test_forgetting_a_kind_drops_only_its_objects():
    t = tracker(deployment(OURS))
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "c", "namespace": "app", "labels": {"gitops.core/set": "prod"}}}
    t.observe("MODIFIED", config, listed=True)
    t.forget("apps", "Deployment")
    assert list(t.owned) == [("", "ConfigMap", "app", "c")]
