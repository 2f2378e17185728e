# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_reconcile as an orchestration of the engine's verbs: plan, guards, dry-run and apply,
delete, wait, then record the inventory.  drift_check heals through converge() and
record_inventory(), the same path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils import changeset, compare, inventory, order
from ansible_collections.gitops.core.plugins.module_utils.changeset import (
    ABANDON, ADOPT, CREATE, PRUNE, SKIP, UNCHANGED, UPDATE)
from ansible_collections.gitops.core.plugins.module_utils.engine import Engine, Options
from ansible_collections.gitops.core.plugins.module_utils.objref import set_label


def converge(engine, cs):
    """The writes that close a ChangeSet: every guard first, then dry-run and apply, then prune.
    Returns the entries pruned.  Before each write stage: is the set's lock still ours?"""
    engine.check_guards(cs)
    engine.lock.ensure()
    engine.apply(cs.writes(), before_first_write=lambda: _record_intent(engine, cs))
    if not cs.by_action(PRUNE):
        return []
    engine.lock.ensure()
    return engine.delete(cs)


def _record_intent(engine, cs):
    """Before the first write: the inventory also lists every desired object it does not list yet,
    so that no run, however it ends, leaves an object live and labelled that no inventory records."""
    opts, record = engine.opts, cs.inventory
    listed = set(record.refs)
    new = {e.ref for e in cs.desired() if e.action != SKIP} - listed
    if not new:  # (never called in check mode: the apply verb stops after the dry-run)
        return
    inventory.write(engine.client, opts.inventory_namespace, opts.set_name, sorted(listed | new), record.revision,
                    opts.field_manager, record.abandoned)


def record_inventory(engine, cs):
    """Write the inventory after a fully successful run: every desired object, plus the objects
    that left Git but stay live and ours (abandoned).  Returns (refs, abandoned keys)."""
    opts = engine.opts
    kept = [e for e in cs.entries if not e.desired and e.action in (ABANDON, SKIP)
            and set_label(e.live) == opts.set_name]
    refs = sorted({e.ref for e in cs.desired()} | {e.ref for e in kept})
    abandoned = frozenset(e.ref.key for e in kept)
    revision = opts.revision or cs.inventory.revision
    if not opts.check_mode and not inventory.unchanged(cs.inventory, refs, abandoned, revision):
        engine.lock.ensure()
        inventory.write(engine.client, opts.inventory_namespace, opts.set_name, refs, revision,
                        opts.field_manager, abandoned)
    return refs, abandoned


def run(client, params, objects, sources=None, check_mode=False, diff=False):
    started = time.monotonic()
    opts = Options.from_params(params, check_mode=check_mode, keep_results=bool(diff))
    with Engine(client, opts) as engine:
        engine.take_lock()
        cs = engine.plan(objects, sources)
        pruned = converge(engine, cs)
        report = None
        if params.get("wait") and not check_mode:
            report = engine.wait([e for e in cs.desired() if e.action != SKIP], params.get("wait_timeout") or 300)
        refs, abandoned = record_inventory(engine, cs)
    result = _result(engine, cs, pruned, refs, abandoned, params.get("list_unchanged"))
    lock = engine.lock.result()
    if lock:
        result["lock"] = lock
    if report is not None:
        result["health"] = report
    if diff:
        result["diff"] = [_ansible_diff(e) for e in cs.entries if e.action in (CREATE, UPDATE, ADOPT, PRUNE)]
    result["api_requests"] = dict(sorted(client.counts.items()))
    result["duration"] = round(time.monotonic() - started, 3)
    return result


def _result(engine, cs, pruned, refs, abandoned, list_unchanged=False):
    def names(action):  # in the order the run applies them
        chosen = cs.by_action(action)
        return [str(e.ref) for e in sorted(chosen, key=lambda e: order.apply_key(e.ref, e.body or {}))]
    created, updated, adopted = names(CREATE), names(UPDATE), names(ADOPT)
    pruned = [str(e.ref) for e in pruned]
    opts = engine.opts
    return dict(
        changed=bool(created or updated or adopted or pruned),
        created=created, updated=updated, adopted=adopted, pruned=pruned,
        skipped_objects=changeset.skipped(cs),
        unchanged=len(cs.by_action(UNCHANGED)),
        objects=[changeset.entry_result(e) for e in cs.entries if list_unchanged or e.action != UNCHANGED],
        inventory={"name": inventory.name_for(opts.set_name), "namespace": opts.inventory_namespace,
                   "revision": opts.revision or cs.inventory.revision, "objects": len(refs),
                   "abandoned": len(abandoned)},
    )


def _yaml(obj):
    if obj is None:
        return ""
    import yaml
    return yaml.safe_dump(compare.mask_secret(compare.strip_server_fields(obj)), sort_keys=True,
                          default_flow_style=False)


def _ansible_diff(e):
    """Ansible's before/after for one object: live vs what the dry-run (or apply) returned;
    Secret values hidden, server-owned metadata stripped."""
    after = None if e.action == PRUNE else (e.result or e.body)
    return {"before_header": "%s (live)" % (e.ref,), "after_header": "%s (%s)" % (e.ref, e.action),
            "before": _yaml(e.live), "after": _yaml(after)}
