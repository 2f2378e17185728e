"""The change-set engine on plain data: actions decided by the plan, drift statuses derived from
them, the delete guards, ownership between sets, and the inventory's abandoned entries."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.gitops.core.plugins.module_utils.engine import changeset, inventory, order, ownership
from ansible_collections.gitops.core.plugins.module_utils.report import result
from ansible_collections.gitops.core.plugins.module_utils.engine import plan as planner
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import ChangeSet
from ansible_collections.gitops.core.plugins.module_utils.engine.delete import check_guards
from ansible_collections.gitops.core.plugins.module_utils.engine.engine import Options
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.modules.k8s_reconcile import argument_spec

DEFAULTS = {name: spec.get("default") for name, spec in argument_spec().items()}


def cm(name, labels=None, annotations=None, ns="n"):
    meta = {"name": name, "namespace": ns, "uid": "u-" + name}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def ref(name, ns="n"):
    return ObjectRef("", "v1", "ConfigMap", ns, name)


def options(**run):
    """Options as k8s_reconcile's argument spec defaults them, for set 'a', with `run` on top."""
    return Options.from_params(dict(DEFAULTS, set_name="a"), **run)


def engine(**opts):
    return SimpleNamespace(opts=options(**opts), client=None)


def leaver(live, **opts):
    return planner.decide_leaver(ObjectRef.from_object(live), live, None, "a", options(**opts).prune)


def as_desired(body, source=None):
    ref_ = ObjectRef.from_object(body)
    return planner.Desired(ref_, body, None, source, order.apply_key(ref_, body), None)


def desired(body, live, revision=None, takeover=None, **opts):
    return planner.decide_desired(as_desired(body), live, options(revision=revision, **opts), takeover)


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
    assert result.status_of(leaver(cm("x", ours))) == result.ORPHANED
    assert result.status_of(leaver(cm("x", ours), prune=False)) == result.ORPHANED
    assert result.status_of(leaver(cm("x", {"gitops.core/set": "b"}))) is None
    body = cm("x", dict(ours))
    assert result.status_of(desired(body, None)) == result.MISSING
    live = cm("x", dict(ours))
    live["data"] = {"k": "changed"}
    assert result.status_of(desired(cm("x", dict(ours)), live)) == result.MODIFIED


def test_null_labels_and_annotations_are_none_and_bad_ones_are_refused():
    discovery = SimpleNamespace(resource=lambda *a, **k: SimpleNamespace(namespaced=True))  # ConfigMaps are namespaced
    nulls = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": None, "annotations": None}}
    [d] = planner.resolve_desired(discovery, [nulls], None, "a", "n", None)
    assert d.body["metadata"]["labels"] == {"gitops.core/set": "a"} and "annotations" not in d.body["metadata"]
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
    return ChangeSet(entries, inventory.Record(list(inv_refs), frozenset(), None, {}, {}))


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

def takeovers(desired_body, live, source=None, **opts):
    return ownership.takeovers(engine(**opts), [(as_desired(desired_body, source), live)], inventory.EMPTY)


def test_an_object_of_another_set_is_refused_naming_both_sets():
    with pytest.raises(GitOpsError) as err:
        takeovers(cm("x", {"gitops.core/set": "a"}), cm("x", {"gitops.core/set": "b"}), "apps/x.yaml, document 1")
    assert "set 'a' declares 1 object(s) that another set owns; nothing was changed" in err.value.message
    assert "ConfigMap n/x (apps/x.yaml, document 1) belongs to set 'b'" in err.value.message
    assert err.value.details["conflicts"] == [{"ref": "ConfigMap n/x", "source": "apps/x.yaml, document 1",
                                               "owner": "b"}]


def test_adopt_option_or_annotation_makes_the_takeover_an_explicit_action():
    live = cm("x", {"gitops.core/set": "b"})
    action, reason = takeovers(cm("x", {"gitops.core/set": "a"}), live, adopt=True)[("", "ConfigMap", "n", "x")]
    assert action == changeset.ADOPT and "taken over from set 'b'" in reason
    body = cm("x", {"gitops.core/set": "a"}, {"gitops.core/adopt": "true"})
    takeover = takeovers(body, live)[("", "ConfigMap", "n", "x")]
    e = desired(body, live, takeover=takeover)
    assert e.action == changeset.ADOPT and result.status_of(e) == result.MODIFIED


def test_an_entry_is_made_once_and_later_stages_make_successors():
    """The plan's entries never change: the dry-run's or prune's news is a new entry in a new ChangeSet."""
    planned = leaver(cm("x", {"gitops.core/set": "a"}))
    cs = ChangeSet([planned], inventory.EMPTY)
    gone = planned.but(action=changeset.SKIP, live=None, reason="left the set; already gone when prune reached it")
    after = cs.replaced({planned: gone})
    assert planned.action == changeset.PRUNE and cs.entries == [planned] and after.entries == [gone]


def test_an_object_already_gone_at_prune_is_neither_pruned_nor_kept_in_the_inventory():
    """Before: it kept action prune in `objects` but was missing from `pruned`; now both say skip."""
    pruned, vanished = (leaver(cm(n, {"gitops.core/set": "a"})) for n in ("p", "v"))
    cs = ChangeSet([pruned, vanished], inventory.EMPTY)
    cs = cs.replaced({vanished: vanished.but(action=changeset.SKIP, live=None, reason="already gone")})
    out = result.reconcile_result(cs, "a", "gitops-system", None, [], frozenset())
    assert out["pruned"] == ["ConfigMap n/p"]
    assert [o["ref"] for o in out["objects"] if o["action"] == changeset.PRUNE] == out["pruned"]
    assert out["skipped_objects"] == [{"ref": "ConfigMap n/v", "action": "skip", "reason": "already gone"}]


def test_drift_counts_an_update_only_by_its_differences_after_the_ignore_rules():
    from ansible_collections.gitops.core.plugins.module_utils.observe.ignore import Rules
    ours = {"gitops.core/set": "a"}
    live = cm("x", dict(ours))
    live["data"] = {"k": "hand-edited"}
    ignore = Rules([{"kind": "ConfigMap", "paths": ["data.k"]}])
    assert desired(cm("x", dict(ours)), live).action == changeset.UPDATE
    assert desired(cm("x", dict(ours)), live, ignore=ignore, count_unowned=False).action == changeset.UNCHANGED
    unowned = cm("x", dict(ours))  # in sync, but never applied by our field manager
    assert desired(cm("x", dict(ours)), unowned).reason == "not yet applied by field manager gitops-core"
    assert desired(cm("x", dict(ours)), unowned, count_unowned=False).action == changeset.UNCHANGED


# ------------------------------------------------------------------ inventory

def test_inventory_round_trip_keeps_abandoned_entries():
    refs = [ref("a"), ref("b")]
    cm_body = inventory.body("gitops-system", "s", refs, "rev", abandoned={ref("b").key})
    record = inventory.parse(cm_body)
    assert record.refs == refs and record.abandoned == {ref("b").key} and record.revision == "rev"
    assert cm_body["data"]["abandoned"] == "1"
    assert inventory.unchanged(record, refs, {ref("b").key}, "rev", {})
    assert not inventory.unchanged(record, refs, set(), "rev", {})
    assert not inventory.unchanged(record, refs, {ref("b").key}, "rev", {"once Job n/x": "d1"})


def test_an_unreadable_inventory_is_a_clear_error():
    broken = {"metadata": {"name": "gitops-set-s", "namespace": "gitops-system"}, "data": {"objects.json": "{nope"}}
    with pytest.raises(GitOpsError, match="inventory ConfigMap gitops-system/gitops-set-s is unreadable"):
        inventory.parse(broken)


def test_options_come_from_module_params_by_name():
    opts = Options.from_params(dict(DEFAULTS, set_name="s", prune=False, unrelated=1), check_mode=True)
    assert (opts.set_name, opts.prune, opts.max_deletions, opts.check_mode) == ("s", False, None, True)
    assert (opts.namespace, opts.lock_timeout) == ("default", 300)  # the argument spec's defaults


@pytest.mark.parametrize("bad, message", [
    ({"set_name": "Bad_Name"}, "set_name 'Bad_Name' must be lower-case"),
    ({"parallelism": 0}, "parallelism must be at least 1"),
    ({"max_deletions": -1}, "max_deletions must not be negative"),
    ({"lock_duration": 2}, "lock_duration must be at least 3 seconds"),
    ({"lock_timeout": -1}, "lock_timeout not negative"),
])
def test_options_are_checked_once_where_they_are_typed(bad, message):
    with pytest.raises(GitOpsError, match=message):
        Options.from_params(dict(DEFAULTS, set_name="s") | bad)
