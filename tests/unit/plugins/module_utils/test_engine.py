"""The change-set engine on plain data: actions decided by the plan, drift statuses derived from
them, the delete guards, ownership between sets, and the inventory's abandoned entries."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.gitops.core.plugins.module_utils import changeset, inventory, ownership
from ansible_collections.gitops.core.plugins.module_utils import plan as planner
from ansible_collections.gitops.core.plugins.module_utils.changeset import ChangeSet, Entry
from ansible_collections.gitops.core.plugins.module_utils.delete import check_guards
from ansible_collections.gitops.core.plugins.module_utils.engine import Options
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.objref import ObjectRef


def cm(name, labels=None, annotations=None, ns="n"):
    meta = {"name": name, "namespace": ns, "uid": "u-" + name}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def ref(name, ns="n"):
    return ObjectRef("", "v1", "ConfigMap", ns, name)


def engine(**opts):
    return SimpleNamespace(opts=Options(set_name="a", **opts), client=None)


def leaver(live, **opts):
    e = Entry(ObjectRef.from_object(live), live=live)
    planner._decide_leaver(e, "a", Options(set_name="a", **opts).prune)
    return e


def desired(body, live, revision=None):
    e = Entry(ObjectRef.from_object(body), body=body, live=live)
    planner._decide_desired(e, "gitops-core", revision)
    return e


# ------------------------------------------------------------------ actions and statuses

def test_leavers_are_pruned_abandoned_or_skipped_by_label_annotation_and_option():
    ours = {"gitops.core/set": "a"}
    assert leaver(cm("x", ours)).action == changeset.PRUNE
    assert leaver(cm("x", ours), prune=False).reason == "left the set; prune is false"
    assert leaver(cm("x", ours, {"gitops.core/prune": "disabled"})).action == changeset.ABANDON
    assert leaver(cm("x", ours, {"gitops.core/reconcile": "disabled"})).action == changeset.SKIP
    moved = leaver(cm("x", {"gitops.core/set": "b"}))
    assert moved.action == changeset.SKIP and "'b', not 'a'" in moved.reason


def test_drift_status_is_derived_from_the_action_in_one_place():
    ours = {"gitops.core/set": "a"}
    assert changeset.status_of(leaver(cm("x", ours))) == changeset.ORPHANED
    assert changeset.status_of(leaver(cm("x", ours), prune=False)) == changeset.ORPHANED
    assert changeset.status_of(leaver(cm("x", {"gitops.core/set": "b"}))) is None
    body = cm("x", dict(ours))
    assert changeset.status_of(desired(body, None)) == changeset.MISSING
    live = cm("x", dict(ours))
    live["data"] = {"k": "changed"}
    assert changeset.status_of(desired(cm("x", dict(ours)), live)) == changeset.MODIFIED


def test_null_labels_and_annotations_are_none_and_bad_ones_are_refused():
    discovery = SimpleNamespace(resource=lambda *a, **k: SimpleNamespace(namespaced=True))  # ConfigMaps are namespaced
    nulls = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": None, "annotations": None}}
    [e] = planner.resolve_desired(discovery, [nulls], None, "a", "n", None)
    assert e.body["metadata"]["labels"] == {"gitops.core/set": "a"} and "annotations" not in e.body["metadata"]
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"tier": 3}}}
    with pytest.raises(GitOpsError, match=r"objects\[0\] \(a.yaml, document 1\): metadata.labels.tier must be a string"):
        planner.resolve_desired(None, [bad], [{"file": "a.yaml", "document": 1}], "a", "n", None)


def test_a_run_without_revision_keeps_the_revision_the_object_was_applied_from():
    live = cm("x", {"gitops.core/set": "a"}, {"gitops.core/revision": "abc"})
    e = desired(cm("x", {"gitops.core/set": "a"}), live)
    assert e.body["metadata"]["annotations"]["gitops.core/revision"] == "abc"
    e = desired(cm("x", {"gitops.core/set": "a"}, {"gitops.core/revision": "def"}), live, revision="def")
    assert e.body["metadata"]["annotations"]["gitops.core/revision"] == "def"


# ------------------------------------------------------------------ guards

def plan_of(entries, inv_refs=()):
    return ChangeSet(entries, inventory.Record(list(inv_refs), frozenset(), None, {}))


def test_empty_desired_set_refuses_to_prune_unless_allowed():
    cs = plan_of([leaver(cm("x", {"gitops.core/set": "a"}))], [ref("x")])
    with pytest.raises(GitOpsError, match="desired set 'a' is empty; refusing to prune 1 object"):
        check_guards(engine(), cs)
    check_guards(engine(allow_empty=True), cs)
    check_guards(engine(prune=False), plan_of([leaver(cm("x", {"gitops.core/set": "a"}), prune=False)]))


def test_max_deletions_refuses_and_names_what_would_be_deleted():
    cs = plan_of([desired(cm("keep", {"gitops.core/set": "a"}), None)]
                 + [leaver(cm(n, {"gitops.core/set": "a"})) for n in ("p", "q")])
    with pytest.raises(GitOpsError, match=r"would prune 2 objects, more than max_deletions=1.*ConfigMap n/p, ConfigMap n/q"):
        check_guards(engine(max_deletions=1), cs)
    check_guards(engine(max_deletions=2), cs)


# ------------------------------------------------------------------ ownership

def test_an_object_of_another_set_is_refused_naming_both_sets():
    e = desired(cm("x", {"gitops.core/set": "a"}), cm("x", {"gitops.core/set": "b"}))
    e.source = "apps/x.yaml, document 1"
    with pytest.raises(GitOpsError) as err:
        ownership.resolve(engine(), [e], inventory.EMPTY)
    assert "set 'a' declares 1 object(s) that another set owns; nothing was changed" in err.value.message
    assert "ConfigMap n/x (apps/x.yaml, document 1) belongs to set 'b'" in err.value.message
    assert err.value.details["conflicts"] == [{"object": "ConfigMap n/x", "source": "apps/x.yaml, document 1",
                                               "owner": "b"}]


def test_adopt_option_or_annotation_makes_the_takeover_an_explicit_action():
    e = desired(cm("x", {"gitops.core/set": "a"}), cm("x", {"gitops.core/set": "b"}))
    ownership.resolve(engine(adopt=True), [e], inventory.EMPTY)
    assert e.action == changeset.ADOPT and "taken over from set 'b'" in e.reason
    e = desired(cm("x", {"gitops.core/set": "a"}, {"gitops.core/adopt": "true"}), cm("x", {"gitops.core/set": "b"}))
    ownership.resolve(engine(), [e], inventory.EMPTY)
    assert e.action == changeset.ADOPT and changeset.status_of(e) == changeset.MODIFIED


# ------------------------------------------------------------------ inventory

def test_inventory_round_trip_keeps_abandoned_entries():
    refs = [ref("a"), ref("b")]
    cm_body = inventory.body("gitops-system", "s", refs, "rev", abandoned={ref("b").key})
    record = inventory.parse(cm_body)
    assert record.refs == refs and record.abandoned == {ref("b").key} and record.revision == "rev"
    assert cm_body["data"]["abandoned"] == "1"
    assert inventory.unchanged(record, refs, {ref("b").key}, "rev")
    assert not inventory.unchanged(record, refs, set(), "rev")


def test_an_unreadable_inventory_is_a_clear_error():
    broken = {"metadata": {"name": "gitops-set-s", "namespace": "gitops-system"}, "data": {"objects.json": "{nope"}}
    with pytest.raises(GitOpsError, match="inventory ConfigMap gitops-system/gitops-set-s is unreadable"):
        inventory.parse(broken)


def test_options_come_from_module_params_by_name():
    opts = Options.from_params({"set_name": "s", "prune": False, "max_deletions": None, "unrelated": 1},
                               check_mode=True)
    assert (opts.set_name, opts.prune, opts.max_deletions, opts.check_mode) == ("s", False, None, True)
