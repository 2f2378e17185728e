"""A set's status (engine/status.py), set_info's entries (report/set_status.py), the metrics of both
(report/metrics.py) and the agent's counts (observe/agent_stats.py), on plain data and a fake clock;
the exposition parsed by prometheus-client's own parser.  The real cluster and Prometheus are in
tests/integration/test_status.py and test_observability.py."""
from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.engine import status
from ansible_collections.gitops.core.plugins.module_utils.observe import live_drift
from ansible_collections.gitops.core.plugins.module_utils.observe.agent_stats import AgentStats
from ansible_collections.gitops.core.plugins.module_utils.report import metrics, set_status

REFS = [ObjectRef("", "v1", "ConfigMap", "a", "x"), ObjectRef("apps", "v1", "Deployment", "a", "web"),
        ObjectRef("", "v1", "ConfigMap", "a", "y")]


def synced(result="succeeded", previous=None, **source):
    return status.sync_status("abc", dict({"commit": "abc", "subject": "web: 3"}, **source), result,
                              "boom" if result == "failed" else None, 1.5, REFS, None, {"user": "u", "host": "h"},
                              previous)


def test_a_sync_status_names_counts_and_never_writes_for_times_alone():
    doc = synced()
    assert doc["objects"] == {"ConfigMap": 2, "apps/Deployment": 1} and doc["object_count"] == 3
    assert doc["subject"] == "web: 3" and doc["last_success"]["revision"] == "abc"
    later = dict(doc, last_sync=dict(doc["last_sync"], time="2099-01-01T00:00:00Z", duration=9,
                                     started_by={"awx_job_id": "2"}))
    now = status.seconds(doc["last_sync"]["time"])
    assert not status.needs_write(doc, later, 300, now=now + 10)  # only times and who: nothing new
    assert status.needs_write(doc, later, 300, now=now + 301)     # the recorded one is too old
    assert status.needs_write(doc, synced(subject="web: 4"), 300, now=now)
    assert status.needs_write(None, doc)
    failed = synced("failed", previous=doc)
    assert failed["last_success"] == doc["last_success"] and failed["last_sync"]["message"] == "boom"
    assert status.needs_write(doc, failed, 300, now=now)


def test_started_by_prefers_the_option_then_the_awx_job_then_the_user():
    assert status.started_by({"awx_job_id": "5", "awx_user_name": ""}) == {"awx_job_id": "5"}
    assert status.started_by(None, {"JOB_ID": "9", "AWX_HOST": "https://awx.example.com/"}) == {
        "awx_job_id": "9", "awx_job_url": "https://awx.example.com/#/jobs/playbook/9"}
    assert set(status.started_by(None, {})) == {"user", "host"}


def inventory(name, sync=None, drift=None):
    annotations = {}
    if sync:
        annotations[status.SYNC_STATUS_ANNOTATION] = json.dumps(sync)
    if drift:
        annotations[status.DRIFT_STATUS_ANNOTATION] = json.dumps(drift)
    return {"metadata": {"name": "gitops-set-" + name, "namespace": "gitops-system",
                         "labels": {"gitops.core/inventory": name}, "annotations": annotations},
            "data": {"revision": "abc", "objects": "3"}}


def test_set_info_entries_say_one_state_each_and_their_metrics_parse():
    now = status.seconds("2026-12-03T12:00:00Z")
    lease = {"spec": {"holderIdentity": "job-1", "leaseDurationSeconds": 60, "renewTime": "2026-12-03T11:59:50.000000Z"}}
    old = {"spec": {"holderIdentity": "job-0", "leaseDurationSeconds": 60, "renewTime": "2026-12-03T11:00:00.000000Z"}}
    entries = [
        set_status.one(inventory("ok", synced(), status.drift_status("abc", "in sync", 0, None, {})), None, now),
        set_status.one(inventory("bad", synced("failed")), old, now),
        set_status.one(inventory("drift", synced(), status.drift_status("abc", "drift", 2, None, {})), None, now),
        set_status.one(inventory("busy", synced()), lease, now),
        set_status.one(inventory("new"), None, now),
    ]
    assert [e["state"] for e in entries] == ["synced", "failed", "drifted", "running", "unknown"]
    assert entries[1]["lock"] == {"holder": "job-0", "renewed": "2026-12-03T11:00:00.000000Z", "expired": True}
    assert set_status.summary(entries) == {"sets": 5, "synced": 1, "failed": 1, "drifted": 1, "running": 1, "unknown": 1}
    text = metrics.exposition(metrics.set_samples(entries))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    success = {s.labels["set"]: s.value for s in families["gitops_set_last_sync_success"].samples}
    assert success == {"ok": 1, "bad": 0, "drift": 1, "busy": 1}
    assert {s.labels["set"]: s.value for s in families["gitops_set_drifted_objects"].samples} == {"ok": 0, "drift": 2}
    assert {s.labels["set"]: s.value for s in families["gitops_set_locked"].samples}["busy"] == 1
    assert all(s.value == 1 for s in families["gitops_set_info"].samples)


def test_the_textfile_is_replaced_whole(tmp_path):
    path = tmp_path / "gitops.prom"
    metrics.write_textfile(str(path), "a 1\n")
    metrics.write_textfile(str(path), "b 2\n")
    assert path.read_text() == "b 2\n" and [p.name for p in tmp_path.iterdir()] == ["gitops.prom"]


class _Tracker:
    def __init__(self, recorded=()):
        self.recorded = set(recorded)

    def is_recorded(self, _set, ref):
        return ref.key in self.recorded


def obj(name, managers, data=None):
    fields = [{"manager": m, "operation": "Apply" if m == "gitops-core" else "Update", "fieldsType": "FieldsV1",
               "fieldsV1": {"f:data": {"f:k": {}}}} for m in managers]
    meta = {"name": name, "namespace": "a", "labels": {"gitops.core/set": "s"}, "managedFields": fields}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"k": "v"}}


def test_the_agent_counts_a_drift_until_it_is_settled():
    clock = iter(range(100, 200))
    stats = AgentStats(clock=lambda: next(clock))
    ref = ObjectRef("", "v1", "ConfigMap", "a", "x")
    stats.emitted(live_drift.Change("s", None, live_drift.STARTUP, [], []))
    stats.emitted(live_drift.Change("s", ref, live_drift.MODIFIED, ["kubectl-edit"], ["data.k"]))
    samples = stats.samples(["s"], {"s": 3})
    assert samples["gitops_agent_drifted_objects"] == [({"set": "s"}, 1)]
    assert samples["gitops_agent_events_total"] == [({"set": "s"}, 2)]
    assert samples["gitops_agent_watched_objects"] == [({"set": "s"}, 3)]
    stats.observed("MODIFIED", obj("x", ["kubectl-edit"]), "gitops-core", _Tracker())  # still someone else's
    assert stats.samples(["s"], {})["gitops_agent_drifted_objects"] == [({"set": "s"}, 1)]
    stats.observed("MODIFIED", obj("x", ["gitops-core"]), "gitops-core", _Tracker())  # healed: ours again
    assert stats.samples(["s"], {})["gitops_agent_drifted_objects"] == [({"set": "s"}, 0)]
    stats.emitted(live_drift.Change("s", ref, live_drift.UNRECORDED, ["kubectl"], []))
    stats.observed("MODIFIED", obj("x", ["kubectl"]), "gitops-core", _Tracker())
    assert stats.samples(["s"], {})["gitops_agent_drifted_objects"] == [({"set": "s"}, 1)]
    stats.observed("MODIFIED", obj("x", ["kubectl"]), "gitops-core", _Tracker([ref.key]))  # the set took it in
    assert stats.samples(["s"], {})["gitops_agent_drifted_objects"] == [({"set": "s"}, 0)]
    stats.watch_opened("configmaps")
    stats.relisted("configmaps")
    stats.reconnected("configmaps")
    stats.relisted("configmaps")
    stats.watch_closed("configmaps")
    samples = stats.samples(["s"], {})
    assert samples["gitops_agent_relists_total"] == [({"resource": "configmaps"}, 2)]
    assert samples["gitops_agent_watches_connected"] == [({"resource": "configmaps"}, 0)]
    stats.forget_sets(set())
    assert stats.samples(["s"], {})["gitops_agent_events_total"] == [({"set": "s"}, 0)]
