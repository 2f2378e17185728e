# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The delete verb, and the one place its guards live.  Every delete, whoever asks for it
(k8s_reconcile, drift_check's heal, a role), passes them all:
- allow_empty: an empty desired set never prunes (an empty branch or a failed render);
- max_deletions: a run that would prune more is refused, listing what it would delete;
- ownership and the label re-check: just before its DELETE each object is read again and must
  still carry this set's label and no `gitops.core/prune: disabled`; the DELETE carries the
  uid and resourceVersion read, so an object changed or replaced in between is not deleted;
- `gitops.core/prune: disabled` and `gitops.core/reconcile: disabled` (the plan never marks
  those for pruning; the re-check catches annotations added since).
check_guards() runs before the run's first write; prune() runs it again itself.  A recreate (an
update refused for an immutable field, with the opt-in; a run-once object whose content changed)
is a delete too: it counts against max_deletions and passes the re-check (remove()), and so does
the delete of a Helm hook by its delete policy (which does not count: it is the hook's lifecycle).  An object found
already gone when prune reaches it was not deleted by this run: its successor is a `skip`."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from itertools import groupby

from ansible_collections.gitops.core.plugins.module_utils.common import vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import batch, order
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import PRUNE, RECREATE, SKIP
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import ApiError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import annotation, set_label
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (
    DISABLED, PRUNE_ANNOTATION, RECONCILE_ANNOTATION, SET_LABEL)

LIST_LIMIT = 50
CONFLICT_RETRIES = 5


def check_guards(engine, changeset):
    """Raise GitOpsError when allow_empty or max_deletions forbid this run's prunes."""
    opts = engine.opts
    prunes = changeset.by_action(PRUNE)
    deletes = prunes + changeset.by_action(RECREATE)
    if opts.prune and not changeset.desired() and not opts.allow_empty and (prunes or changeset.inventory.refs):
        raise GitOpsError("the desired set '%s' is empty; refusing to prune %d object(s); nothing was changed "
                          "(set allow_empty: true if the set really should be empty)" % (opts.set_name, len(prunes)),
                          would_prune=[str(e.ref) for e in prunes])
    if opts.max_deletions is not None and len(deletes) > opts.max_deletions:
        names = vocab.listing(["%s%s" % (e.ref, " (recreate)" if e.action == RECREATE else "") for e in deletes],
                              LIST_LIMIT, ", ")
        raise GitOpsError("this run would %s %d objects, more than max_deletions=%d; nothing was changed. "
                          "It would delete: %s" % ("prune" if len(deletes) == len(prunes) else "delete (prune or "
                                                   "recreate)", len(deletes), opts.max_deletions, names),
                          would_prune=[str(e.ref) for e in deletes])


def _recheck(engine, e):
    """The object as it is now, if this set may still delete it; else a GitOpsError saying why not."""
    if e.resource is None:
        raise GitOpsError("the cluster no longer serves %s %s" % (e.ref.api_version, e.ref.kind))
    now = engine.client.get(e.resource, e.ref.namespace or None, e.ref.name)
    if now is None:
        return None
    if set_label(now) != engine.opts.set_name:
        raise GitOpsError("not deleted: its %s label is now %r, not %r" % (SET_LABEL, set_label(now), engine.opts.set_name))
    for name in (PRUNE_ANNOTATION, RECONCILE_ANNOTATION):
        if annotation(now, name) == DISABLED:
            raise GitOpsError("not deleted: it is now annotated %s: %s" % (name, DISABLED))
    if (now.get("metadata") or {}).get("uid") != ((e.live or {}).get("metadata") or {}).get("uid"):
        raise GitOpsError("not deleted: it was replaced by a new object since the plan was made")
    return now


def _delete_checked(engine, e, propagation, dry_run=False):
    """The re-check, then a DELETE carrying the uid and resourceVersion just read.  Returns the object
    deleted, or None when it was already gone.  An object already being deleted (a deletionTimestamp:
    an earlier attempt's graceful phase went through, or someone else deleted it) is not deleted again:
    Kubernetes 1.30 answers such a DELETE with a resourceVersion precondition by a 409 every time."""
    now = _recheck(engine, e)
    if now is None:
        return None
    meta = now["metadata"]
    if meta.get("deletionTimestamp") and not dry_run:
        return now
    deleted = engine.client.delete(e.resource, e.ref.namespace or None, e.ref.name, propagation, dry_run=dry_run,
                                   preconditions={"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")})
    return now if deleted else None


def prune(engine, changeset):
    """Delete the entries planned for pruning, in reverse apply order, after every guard (in check
    mode: a server-side dry-run of each delete).  Returns {entry: successor} for those found
    already gone: no longer pruned by this run, but skipped, with the reason."""
    check_guards(engine, changeset)
    opts = engine.opts
    gone = {}

    def one(e):
        if _delete_checked(engine, e, opts.prune_propagation, opts.check_mode) is None:
            gone[e] = e.but(action=SKIP, live=None, reason="left the set; already gone when prune reached it")

    ordered = sorted(changeset.by_action(PRUNE), key=lambda e: order.prune_key(e.order))
    for _phase, group in groupby(ordered, key=lambda e: order.prune_key(e.order)[:2]):
        failures = batch.each(engine, one, list(group))
        if failures:
            batch.fail("prune stopped (the inventory was not changed)", failures)
    return gone


def remove(engine, e, timeout, live=None):
    """Delete one object of the set (a recreate, or a hook by its delete policy) after the same
    re-check as a prune, and wait until it is gone (at most `timeout` seconds).  `live`: the object
    as this run last saw it, when newer than the plan's (a hook this run created)."""
    seen = e.but(live=live) if live is not None else e
    deleted = None
    for attempt in range(CONFLICT_RETRIES):
        try:
            deleted = _delete_checked(engine, seen, "Background")
            break
        except ApiError as exc:  # a controller wrote it in between (a Job's status): read it and check again
            if exc.status != 409 or attempt == CONFLICT_RETRIES - 1:
                raise
    if deleted is None:
        return
    uid, client = deleted["metadata"].get("uid"), engine.client
    deadline = time.monotonic() + timeout
    while True:
        current = client.get(e.resource, e.ref.namespace or None, e.ref.name)
        if current is None or (current.get("metadata") or {}).get("uid") != uid:
            return
        if time.monotonic() > deadline:
            raise GitOpsError("%s: still there %ds after its delete (finalizers: %s)"
                              % (e.where, timeout, ", ".join((current.get("metadata") or {}).get("finalizers") or [])
                                 or "none"))
        time.sleep(0.25)
