# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dry-run and apply verbs: validate every write by server-side dry-run (all or nothing),
then apply in order, phase by phase.

Writes happen only after every object to be written passed its dry-run.  Two kinds of objects
cannot be dry-run before the run starts: those in a Namespace the same run creates, and custom
resources whose CRD the same run creates; they are dry-run just before their own phase, once the
CRDs of the phases before are Established (the wait verb: a CRD whose names the API server refused
fails at once, with its reason).

An update the API server refuses because it changes an immutable field fails the dry-run with
the field and the way out, unless the object opted in to be recreated (lifecycle.recreate_opt_in):
then it becomes a `recreate`, deleted (through the delete verb's re-check) and created again in its
phase.  An object a set takes over first loses the deploy tools' managed-field entries
(lifecycle.takeover_patch)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from itertools import groupby

from ansible_collections.gitops.core.plugins.module_utils.common import vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import batch, lifecycle
from ansible_collections.gitops.core.plugins.module_utils.observe import compare
from ansible_collections.gitops.core.plugins.module_utils.engine import delete as delete_verb
from ansible_collections.gitops.core.plugins.module_utils.engine import wait as wait_verb
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import CREATE, RECREATE, UNCHANGED, UPDATE
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import ApiError

CRD_TIMEOUT = 60
GONE_TIMEOUT = 120  # how long a recreate waits for the old object to be gone


def immutable_fields(exc):
    """The fields an API error says may not change (immutable), or [] when it says something else."""
    if not isinstance(exc, ApiError) or exc.status != 422:
        return []
    causes = (exc.body.get("details") or {}).get("causes") or []
    marks = ("immutable", "may not change once set", "Forbidden: updates to")
    fields = [c.get("field") or "?" for c in causes if any(m in (c.get("message") or "") for m in marks)]
    if not fields and any(m in exc.reason for m in marks):
        fields = ["?"]
    return fields


def dry_run(engine, entries, confirm=False):
    """Server-side dry-run of `entries`; any refusal fails the whole run before a write.  Returns
    {entry: successor}: `unchanged` for each update whose dry-run result equals the live object,
    unless it must still be applied to be ours (our field manager never applied it and the run
    counts that as an update: k8s_reconcile; drift_check does not); `recreate` for an update
    refused for an immutable field of an object that opted in.  With `confirm` (drift_check
    confirming its candidates) such a refusal leaves the update as it is: it is drift all the same."""
    client, opts = engine.client, engine.opts
    results, successors = {}, {}

    def one(e):
        try:
            results[e] = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts, dry_run=True)
        except ApiError as exc:
            fields = immutable_fields(exc)
            if not fields or e.live is None:
                raise
            if confirm:
                return
            allowed, how = lifecycle.recreate_opt_in(e.body, e.ref, opts.recreate)
            if not allowed:
                raise GitOpsError(
                    "%s is immutable (%s); to delete and create it again, annotate it %s: %s in Git, or run with "
                    "recreate: true%s" % (", ".join(fields), exc.reason, vocab.RECREATE_ANNOTATION, vocab.ENABLED,
                                          "" if (e.ref.group, e.ref.kind) not in lifecycle.RECREATE_ONLY_ANNOTATED
                                          else " (not for this kind: only its own annotation)"))
            successors[e] = e.but(action=RECREATE, reason="%s is immutable: recreated (%s)" % (", ".join(fields), how))

    failures = batch.each(engine, one, entries)
    if failures:
        batch.fail("server-side dry-run refused the desired state; nothing was %s"
                   % ("changed" if opts.check_mode else "applied"), failures)
    for e in entries:
        if e in results and e.action == UPDATE and e.live is not None and (e.owned or not opts.count_unowned) \
                and compare.same_result(results[e], e.live):
            successors[e] = e.but(action=UNCHANGED)
        if opts.keep_results and e in results:  # else dropped: a full object per entry, tens of MB at 10,000 objects
            engine.results[e.ref.key] = results[e]
    return successors


def _apply(engine, entries):
    client, opts = engine.client, engine.opts

    def one(e):
        if e.action == RECREATE:
            delete_verb.remove(engine, e, GONE_TIMEOUT)
        elif e.cleanup:
            patch = lifecycle.takeover_patch(e.live, opts.field_manager, opts.takeover_managers)
            if patch:
                client.json_patch(e.resource, e.ref.namespace or None, e.ref.name, patch)
        result = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts)
        if opts.keep_results:
            engine.results[e.ref.key] = result

    failures = batch.each(engine, one, entries)
    if failures:
        batch.fail("apply failed (objects before these in apply order were applied; nothing was pruned "
                   "and the inventory was not changed)", failures)


def _deferred(writes):
    """The writes that cannot be dry-run before the run starts: in a Namespace this run creates, or
    of a kind whose CRD this run creates; and recreates (the old object is in the way)."""
    new_namespaces = {e.ref.name for e in writes if e.ref.kind == "Namespace" and e.ref.group == ""
                      and e.action == CREATE}
    return {e for e in writes if e.resource is None or e.ref.namespace in new_namespaces or e.action == RECREATE}


def validate(engine, writes):
    """Dry-run every write that can be validated now (all or nothing).  Returns the dry-run's
    {entry: successor} (unchanged, recreate)."""
    deferred = _deferred(writes)
    return dry_run(engine, [e for e in writes if e not in deferred])


def write(engine, writes):
    """Apply `writes` in order, phase by phase; objects that depend on a Namespace or CRD created in
    this run are dry-run at the start of their own phase.  Returns {entry: successor} for the custom
    resources that got their Resource once their CRD was served."""
    deferred = _deferred(writes)
    successors = {}
    for _phase, group in groupby(sorted(writes, key=lambda e: e.order), key=lambda e: e.order[:2]):
        group = list(group)
        for e in group:
            if e.resource is None:  # a custom resource whose CRD an earlier phase applied
                successors[e] = _served(engine, e)
        later = [successors.get(e, e) for e in group if e in deferred and e.action != RECREATE]
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
