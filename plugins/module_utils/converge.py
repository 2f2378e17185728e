# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Closing a plan with writes, the one path k8s_reconcile and drift_check's heal share: every
guard first, then dry-run and apply (the inventory lists every object about to be created before
the first write), then prune; and the inventory written after a fully successful run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils import inventory
from ansible_collections.gitops.core.plugins.module_utils.changeset import ABANDON, PRUNE, SKIP
from ansible_collections.gitops.core.plugins.module_utils.objref import set_label


def converge(engine, cs):
    """The writes that close `cs`.  Returns the ChangeSet as it ended: updates the dry-run found
    unchanged, and prunes found already gone, replaced by their successors.  Before each write
    stage: is the set's lock still ours?"""
    engine.check_guards(cs)
    engine.lock.ensure()
    cs = cs.replaced(engine.apply(cs.writes(), before_first_write=lambda: _record_intent(engine, cs)))
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
    if not new:  # (never called in check mode: the apply verb stops after the dry-run)
        return
    inventory.write(engine.client, opts.inventory_namespace, opts.set_name, sorted(listed | new), record.revision,
                    opts.field_manager, record.abandoned)


def record_inventory(engine, cs):
    """Write the inventory after a fully successful run: every desired object, plus the objects
    that left Git but stay live and ours (abandoned).  Returns (refs, abandoned keys, revision)."""
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
    return refs, abandoned, revision
