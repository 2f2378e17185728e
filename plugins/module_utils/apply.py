# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dry-run and apply verbs: validate every write by server-side dry-run (all or nothing),
then apply in order, phase by phase.

Writes happen only after every object to be written passed its dry-run.  Two kinds of objects
cannot be dry-run before the run starts: those in a Namespace the same run creates, and custom
resources whose CRD the same run creates; they are dry-run just before their own phase, once the
CRDs of the phases before are Established (the wait verb: a CRD whose names the API server refused
fails at once, with its reason)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from itertools import groupby

from ansible_collections.gitops.core.plugins.module_utils import batch, compare
from ansible_collections.gitops.core.plugins.module_utils import wait as wait_verb
from ansible_collections.gitops.core.plugins.module_utils.changeset import CREATE, UNCHANGED, UPDATE
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError

CRD_TIMEOUT = 60


def dry_run(engine, entries):
    """Server-side dry-run of `entries`; any refusal fails the whole run before a write.  Returns
    {entry: its unchanged successor} for each update whose dry-run result equals the live object,
    unless it must still be applied to be ours (our field manager never applied it and the run
    counts that as an update: k8s_reconcile; drift_check does not)."""
    client, opts = engine.client, engine.opts
    results = {}

    def one(e):
        results[e] = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts, dry_run=True)

    failures = batch.each(engine, one, entries)
    if failures:
        batch.fail("server-side dry-run refused the desired state; nothing was %s"
                   % ("changed" if opts.check_mode else "applied"), failures)
    unchanged = {}
    for e in entries:
        if e.action == UPDATE and e.live is not None and (e.owned or not opts.count_unowned) \
                and compare.same_result(results[e], e.live):
            unchanged[e] = e.but(action=UNCHANGED)
        if opts.keep_results:  # else dropped: a full object per entry, tens of MB at 10,000 objects
            engine.results[e.ref.key] = results[e]
    return unchanged


def _apply(engine, entries):
    client, opts = engine.client, engine.opts

    def one(e):
        result = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts)
        if opts.keep_results:
            engine.results[e.ref.key] = result

    failures = batch.each(engine, one, entries)
    if failures:
        batch.fail("apply failed (objects before these in apply order were applied; nothing was pruned "
                   "and the inventory was not changed)", failures)


def write(engine, writes, before_first_write=None):
    """Dry-run every write that can be validated now (all or nothing), then apply in order,
    phase by phase; objects that depend on a Namespace or CRD created in this run are dry-run at
    the start of their own phase.  In check mode only the dry-run happens.  `before_first_write`
    runs once the dry-run passed, before anything is applied.  Returns {entry: successor}: the
    updates the dry-run found unchanged, and the custom resources that got their Resource once
    their CRD was served."""
    new_namespaces = {e.ref.name for e in writes if e.ref.kind == "Namespace" and e.ref.group == ""
                      and e.action == CREATE}
    deferred = {e for e in writes if e.resource is None or (e.ref.namespace in new_namespaces)}
    unchanged = dry_run(engine, [e for e in writes if e not in deferred])
    if engine.opts.check_mode:
        return unchanged
    if before_first_write is not None:
        before_first_write()
    successors = dict(unchanged)
    todo = [e for e in writes if e not in unchanged]
    for _phase, group in groupby(sorted(todo, key=lambda e: e.order), key=lambda e: e.order[:2]):
        group = list(group)
        for e in group:
            if e.resource is None:  # a custom resource whose CRD an earlier phase applied
                successors[e] = _served(engine, e)
        later = [successors.get(e, e) for e in group if e in deferred]
        if later:
            dry_run(engine, later)  # creates only: nothing of theirs can be unchanged
        group = [successors.get(e, e) for e in group]
        _apply(engine, group)
        crds = [e for e in group if e.ref.kind == "CustomResourceDefinition"]
        if crds:
            wait_verb.wait(engine, crds, CRD_TIMEOUT, what="CustomResourceDefinition(s) to be Established")
            engine.discovery.rediscover()
    return successors


def _served(engine, e):
    """`e` with its Resource, for a custom resource whose CRD an earlier phase of this run applied."""
    res = engine.discovery.resource(e.ref.group, e.ref.version, e.ref.kind)
    if res is None:
        raise GitOpsError("%s: the cluster still does not serve %s after its CRD was applied" % (e.where, e.ref.api_version))
    return e.but(resource=res)
