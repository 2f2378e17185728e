# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hooks verb: run the Helm hooks of one stage (pre: before the release's other objects, post:
after them) as `helm upgrade` does, for the hooks the plan decided run on this sync (action `run`;
lifecycle.hook_stages says why).

In Helm's order (weight, then kind, then name), each hook in turn: the object left by an earlier
run is deleted first (`before-hook-creation`, Helm's default), the hook is created, and a Job or
Pod is waited for until it completed.  A hook that fails stops the run there, naming the hook, its
source and the reason, and is deleted when its policy says `hook-failed`; nothing after it is
applied.  Once every hook of the stage succeeded, those whose policy says `hook-succeeded` are
deleted.  Every delete passes the delete verb's re-check (label, uid, annotations)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils.engine import health, lifecycle
from ansible_collections.gitops.core.plugins.module_utils.engine import delete as delete_verb
from ansible_collections.gitops.core.plugins.module_utils.engine import wait as wait_verb
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import RUN
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import ApiError

WINDOW = 2  # seconds a watch of a hook runs before the health rules (pods included) are read again


def due(changeset, stage):
    """The hooks that run in `stage` on this sync, in Helm's order."""
    return sorted((e for e in changeset.entries if e.action == RUN and stage in e.stages), key=lifecycle.helm_order)


def _completion(engine, e, made, timeout):
    """None once the hook Job (or Pod) completed, else why it failed.  Watched, not polled: a Job
    with `ttlSecondsAfterFinished: 0` is deleted as soon as it finished, and its last state before
    that tells how it ended.  Every WINDOW seconds the health rules (with the Job's pods) are read
    too, so a pod that cannot be scheduled fails the hook at once."""
    client = engine.client
    deadline = time.monotonic() + timeout
    last, rv = made, (made.get("metadata") or {}).get("resourceVersion")

    def verdict(obj):
        return health.check(e.ref.group, e.ref.kind, obj)

    def gone():  # deleted (by its TTL, say): its last state tells how it ended
        status, message = verdict(last)
        return None if status == health.CURRENT else "deleted before it completed (%s)" % message

    def final(_kind, obj):
        return _kind in ("DELETED", "ERROR") or verdict(obj)[0] in (health.CURRENT, health.FAILED)

    while True:
        for kind, obj in client.watch(e.resource, e.ref.namespace or None, e.ref.name, rv, WINDOW, until=final):
            if kind == "ERROR":  # too old a resourceVersion: read it again
                obj = client.get(e.resource, e.ref.namespace or None, e.ref.name) or last
            elif kind == "DELETED":
                return gone()
            last, rv = obj, (obj.get("metadata") or {}).get("resourceVersion") or rv
            status, message = verdict(obj)
            if status == health.CURRENT:
                return None
            if status == health.FAILED:
                return message
        status, message = wait_verb.health_of(engine, e)
        if status == health.CURRENT:
            return None
        if status == health.FAILED:
            return message
        if status == health.NOT_FOUND:
            return gone()
        if time.monotonic() > deadline:
            return "not complete after %ds (%s)" % (timeout, message)


def run(engine, changeset, stage, timeout):
    """Run the hooks of `stage`; returns the refs run, in order."""
    client, opts = engine.client, engine.opts
    done = []
    for e in due(changeset, stage):
        if e.resource is None:
            raise GitOpsError("hook %s: the cluster does not serve %s" % (e.where, e.ref.api_version))
        now = client.get(e.resource, e.ref.namespace or None, e.ref.name)
        if now is not None:  # before-hook-creation, the default; another policy cannot create over it either
            delete_verb.remove(engine, e, timeout, live=now)
        try:
            made = client.apply(e.resource, e.body, opts.field_manager, opts.force_conflicts)
        except ApiError as exc:
            raise GitOpsError("%s hook %s could not be created: %s; nothing after it was applied"
                              % (stage, e.where, exc.reason))
        if lifecycle.waited(e.ref):
            failure = _completion(engine, e, made, timeout)
            if failure:
                if lifecycle.FAILED in e.life.policies:
                    delete_verb.remove(engine, e, timeout, live=made)
                raise GitOpsError("%s hook %s failed: %s; nothing after it was applied" % (stage, e.where, failure))
        done.append((e, made))
    for e, made in done:
        if lifecycle.SUCCEEDED in e.life.policies:
            delete_verb.remove(engine, e, timeout, live=made)
    return [str(e.ref) for e, _made in done]
