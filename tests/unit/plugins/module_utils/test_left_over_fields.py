"""A field Git no longer declares, left on the live object by an earlier sync: hidden when that sync
decrypted it (only the live object names it now), and attributed to gitops.core as left over."""
from __future__ import annotations

import json

from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, paths, sanitize
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import UPDATE, Entry
from ansible_collections.gitops.core.plugins.module_utils.observe import compare, managedfields
from ansible_collections.gitops.core.plugins.module_utils.report import result

ANNOTATION = "gitops.core/decrypted-fields"
PLAIN = "plain-dropped-value-3c1f"


def configmap(data, decrypted_fields):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "x", "annotations": {
        ANNOTATION: json.dumps(sorted(decrypted_fields))}}, "data": data}


def live_after_two_key_sync():
    live = configmap({"mode": "fast", "token": PLAIN}, ["data.mode", "data.token"])
    live["metadata"]["managedFields"] = [{
        "manager": "gitops-core", "operation": "Apply", "apiVersion": "v1", "time": "2026-12-03T10:00:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:mode": {}, "f:token": {}},
                                               "f:metadata": {"f:annotations": {"f:" + ANNOTATION: {}}}}}]
    return live


def test_a_decrypted_field_git_dropped_is_hidden_by_the_live_objects_names():
    desired = configmap({"mode": "fast"}, ["data.mode"])  # the next commit: one key fewer
    live = live_after_two_key_sync()
    diffs = compare.diff(desired, live, "gitops-core")
    shown = compare.describe(diffs, "ConfigMap", desired, live)
    dropped = [d for d in shown if d["path"] == "data.token"]
    assert dropped == [{"path": "data.token", "desired": None, "live": "(hidden)", "note": "changed (values hidden)"}]
    assert PLAIN not in json.dumps(shown)


def test_without_the_live_side_the_value_would_show():
    """The defect: only the desired object's names were read (the dropped key is not among them)."""
    desired = configmap({"mode": "fast"}, ["data.mode"])
    shown = compare.describe(compare.diff(desired, live_after_two_key_sync(), "gitops-core"), "ConfigMap", desired)
    assert PLAIN in json.dumps(shown)


def test_a_left_over_field_is_attributed_to_gitops_core_not_unknown():
    live = live_after_two_key_sync()
    [who] = managedfields.changed_by(live, ("data", "token"), "gitops-core", declared=False)
    assert who["manager"] == "gitops-core" and who["operation"] == "Apply"
    assert who["note"] == managedfields.LEFT_OVER
    # a declared field only we own changed by nobody we know of stays unattributed, as before
    assert managedfields.changed_by(live, ("data", "token"), "gitops-core") == []


def test_a_left_over_field_another_manager_also_owns_names_that_manager():
    live = live_after_two_key_sync()
    live["metadata"]["managedFields"].append({
        "manager": "kubectl-patch", "operation": "Update", "apiVersion": "v1", "time": "2026-12-03T10:05:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:token": {}}}})
    owners = managedfields.changed_by(live, ("data", "token"), "gitops-core", declared=False)
    assert [o["manager"] for o in owners] == ["kubectl-patch"] and "note" not in owners[0]


def test_names_written_before_the_one_grammar_still_hide_what_they_name():
    """An object applied by an earlier version names a dotted key `data.config.yaml`: hidden in diffs,
    in the object as shown, and in messages, never read as the nested data.config.yaml."""
    live = configmap({"config.yaml": PLAIN, "mode": "fast"}, ["data.config.yaml"])
    desired = configmap({"config.yaml": "no longer secret", "mode": "fast"}, [])
    shown = compare.describe(compare.diff(desired, live), "ConfigMap", desired, live)
    assert [d["live"] for d in shown if d["path"] == "data[config.yaml]"] == ["(hidden)"]
    assert decrypted.hide(live)["data"] == {"config.yaml": "(hidden)", "mode": "fast"}
    assert decrypted.values(live) == {PLAIN}
    assert PLAIN not in sanitize.scrub(live, "the API server said %s" % PLAIN)


def test_a_name_that_does_not_read_back_still_hides_its_field():
    odd = 'back\\'  # a key ending in a backslash: its quoted name is not read back by paths.parse
    live = configmap({odd: PLAIN}, [paths.dotted(("data", odd))])
    assert decrypted.hide(live)["data"] == {odd: "(hidden)"}


def test_the_check_mode_diff_hides_a_value_git_newly_encrypts_on_both_sides():
    """The live object names nothing yet (the field was plain); its value is the secret Git now decrypts."""
    desired = configmap({"token": PLAIN}, ["data.token"])
    live = configmap({"token": PLAIN}, [])
    entry = Entry(ref=ObjectRef.from_object(desired), action=UPDATE, body=desired, live=live, source="s.yaml")
    shown = result.ansible_diff(entry)
    assert PLAIN not in shown["before"] and PLAIN not in shown["after"]
