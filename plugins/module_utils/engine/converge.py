# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Closing a plan with writes, the one path k8s_reconcile and drift_check's heal share: every
guard first, then the dry-run (which may turn an update into `unchanged` or `recreate`) and the
guards again, then - the inventory listing every object about to be created - the pre hooks, the
apply, the post hooks, then prune; and the inventory written after a fully successful run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.engine import inventory, lifecycle
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import ABANDON, PRUNE, RUN, SKIP
from ansible_collections.gitops.core.plugins.module_utils.common.objref import set_label


def converge(engine, cs, hook_timeout=None):
    """The writes that close `cs`; Helm hooks run only when `hook_timeout` is given (k8s_reconcile;
    a heal runs none).  Returns the ChangeSet as it ended: updates the dry-run found unchanged or
    to recreate, and prunes found already gone, replaced by their successors.  Before each write
    stage: is the set's lock still ours?"""
    engine.check_guards(cs)
    cs = cs.replaced(engine.validate(cs.writes()))
    engine.check_guards(cs)  # recreates count against max_deletions
    if engine.opts.check_mode:
        return cs.replaced(engine.delete(cs)) if cs.by_action(PRUNE) else cs
    engine.lock.ensure()
    _record_intent(engine, cs)
    if hook_timeout is not None:
        engine.run_hooks(cs, lifecycle.PRE, hook_timeout)
    cs = cs.replaced(engine.apply(cs.writes()))
    if hook_timeout is not None:
        engine.lock.ensure()
        engine.run_hooks(cs, lifecycle.POST, hook_timeout)
    if not cs.by_action(PRUNE):
        return cs
    engine.lock.ensure()
    return cs.replaced(engine.delete(cs))


def _record_intent(engine, cs):
    """Before the first write: the inventory also lists every desired object it does not list yet,
    so that no run, however it ends, leaves an object live and labelled that no inventory records."""
    opts, record = engine.opts, cs.inventory
    listed = set(record.refs)
    new = {e.ref for e in cs.desired() if e.action != SKIP} - listed
    if not new:
        return
    inventory.write(engine.client, opts.inventory_namespace, opts.set_name, sorted(listed | new), record.revision,
                    opts.field_manager, record.abandoned, record.ran)


def ran_after(cs, hooks_ran):
    """What the inventory records as run once this run succeeded: each desired hook's release at
    its digest (only when the hooks ran: a heal runs none, so it keeps what was recorded), each
    run-once object that is live or was created at its content's digest.  Releases and objects no
    longer desired are forgotten."""
    before = cs.inventory.ran or {}
    ran = {}
    for e in cs.desired():
        if isinstance(e.life, lifecycle.Hook):
            if hooks_ran:
                ran[e.life.key] = e.life.digest
            elif e.life.key in before:
                ran[e.life.key] = before[e.life.key]
        elif isinstance(e.life, lifecycle.RunOnce):
            if e.action != SKIP:
                ran[e.life.key] = e.life.digest
            elif e.life.key in before:  # it ran for this content and is gone
                ran[e.life.key] = before[e.life.key]
    return ran


def _inventory_of(engine, cs, hooks_ran):
    """(refs, abandoned keys, revision, ran) that the inventory records after `cs`: every desired
    object, plus the objects that left Git but stay live and ours (abandoned), and what ran."""
    opts = engine.opts
    kept = [e for e in cs.entries if not e.desired and e.action in (ABANDON, SKIP)
            and set_label(e.live) == opts.set_name]
    refs = sorted({e.ref for e in cs.desired()} | {e.ref for e in kept})
    return refs, frozenset(e.ref.key for e in kept), opts.revision or cs.inventory.revision, ran_after(cs, hooks_ran)


def writes_nothing(engine, cs):
    """Whether closing `cs` would write nothing at all: no object to write, prune or run, and an
    inventory that already records it (jobs/sets.py then takes no Lease)."""
    if cs.writes() or cs.by_action(PRUNE, RUN):
        return False
    refs, abandoned, revision, ran = _inventory_of(engine, cs, hooks_ran=True)
    return inventory.unchanged(cs.inventory, refs, abandoned, revision, ran)


def record_inventory(engine, cs, hooks_ran=False):
    """Write the inventory after a fully successful run (what _inventory_of says), unless it
    records that already.  Returns (refs, abandoned keys, revision)."""
    opts = engine.opts
    refs, abandoned, revision, ran = _inventory_of(engine, cs, hooks_ran)
    if not opts.check_mode and not inventory.unchanged(cs.inventory, refs, abandoned, revision, ran):
        engine.lock.ensure()
        inventory.write(engine.client, opts.inventory_namespace, opts.set_name, refs, revision,
                        opts.field_manager, abandoned, ran)
    return refs, abandoned, revision
