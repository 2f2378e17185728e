# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dry-run and apply verbs: validate every write by server-side dry-run (all or nothing),
then apply in order, phase by phase.

Writes happen only after every object to be written passed its dry-run.  Two kinds of objects
cannot be dry-run before the run starts: those in a Namespace the same run creates, and custom
resources whose CRD the same run creates; they are dry-run just before their own phase."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from itertools import groupby

from ansible_collections.gitops.core.plugins.module_utils import batch, compare, health, order
from ansible_collections.gitops.core.plugins.module_utils.changeset import CREATE, UNCHANGED, UPDATE, WRITES
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError

CRD_TIMEOUT = 60


def dry_run(engine, entries, confirm_only=False):
    """Server-side dry-run of `entries`; any refusal fails the whole run before a write.  An update
    whose dry-run result equals the live object becomes unchanged (with confirm_only, also one our
    field manager has not applied before: a drift check does not count an adoption as drift)."""
    client, opts = engine.client, engine.opts

    def one(e):
        e.result = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts, dry_run=True)

    failures = batch.each(engine, one, entries)
    if failures:
        batch.fail("server-side dry-run refused the desired state; nothing was %s"
                   % ("changed" if opts.check_mode else "applied"), failures)
    for e in entries:
        if e.action == UPDATE and e.live is not None and (e.owned or confirm_only) \
                and compare.same_result(e.result, e.live):
            e.action = UNCHANGED
        if not opts.keep_results:
            e.result = None  # a full object per entry: at 10,000 objects, tens of MB held for nothing


def _apply(engine, entries):
    client, opts = engine.client, engine.opts

    def one(e):
        result = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts)
        if opts.keep_results:
            e.result = result

    failures = batch.each(engine, one, entries)
    if failures:
        batch.fail("apply failed (objects before these in apply order were applied; nothing was pruned "
                   "and the inventory was not changed)", failures)


def _wait_crds(engine, crds):
    client = engine.client
    deadline = time.monotonic() + CRD_TIMEOUT
    pending = list(crds)
    while pending:
        pending = [e for e in pending
                   if health.check(e.ref.group, e.ref.kind, client.get(e.resource, None, e.ref.name))[0] != health.CURRENT]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise GitOpsError("CustomResourceDefinition(s) not Established after %ds: %s"
                              % (CRD_TIMEOUT, ", ".join(str(e.ref) for e in pending)))
        time.sleep(0.25)
    client.rediscover()


def write(engine, writes, before_first_write=None):
    """Dry-run every write that can be validated now (all or nothing), then apply in order,
    phase by phase; objects that depend on a Namespace or CRD created in this run are dry-run at
    the start of their own phase.  In check mode only the dry-run happens.  `before_first_write`
    runs once the dry-run passed, before anything is applied."""
    client = engine.client
    new_namespaces = {e.ref.name for e in writes if e.ref.kind == "Namespace" and e.ref.group == ""
                      and e.action == CREATE}
    deferred = {e for e in writes if e.resource is None or (e.ref.namespace in new_namespaces)}
    dry_run(engine, [e for e in writes if e not in deferred])
    if engine.opts.check_mode:
        return
    if before_first_write is not None:
        before_first_write()
    ordered = sorted(writes, key=lambda e: order.apply_key(e.ref, e.body))
    for _key, group in groupby(ordered, key=lambda e: order.apply_key(e.ref, e.body)[:2]):
        group = list(group)
        for e in group:
            if e.resource is None:
                e.resource = client.resource(e.ref.group, e.ref.version, e.ref.kind)
                if e.resource is None:
                    raise GitOpsError("%s: the cluster still does not serve %s after its CRD was applied"
                                      % (e.where, e.ref.api_version))
        later = [e for e in group if e in deferred]
        if later:
            dry_run(engine, later)
        todo = [e for e in group if e.action in WRITES]
        _apply(engine, todo)
        crds = [e for e in todo if e.ref.kind == "CustomResourceDefinition"]
        if crds:
            _wait_crds(engine, crds)
