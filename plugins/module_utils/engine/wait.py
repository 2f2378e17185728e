# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wait verb: poll the health of applied objects until all are Current; fail as soon as one
is Failed (its reason in the message), or when the timeout passes (each object still waited for,
with why).  While a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job) is in
progress, its pods are listed too: one that cannot be scheduled or is crash-looping fails the
wait at once, naming the pod, instead of waiting out the timeout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils.common import vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import health, lifecycle
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import PODS

POLL = 1.0
LIST_LIMIT = 20
_OPERATORS = {"In": "%s in (%s)", "NotIn": "%s notin (%s)"}


def health_entry(entry, status, message):
    """One object of the `health` result: its ref, kstatus status, whether that is Current, and why."""
    return {"ref": str(entry.ref), "status": status, "healthy": status == health.CURRENT, "message": message}


def pod_selector(obj):
    """The label selector of a workload's pods (spec.selector), as a query string, or None."""
    selector = (obj.get("spec") or {}).get("selector") or {}
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key = expr.get("operator"), expr.get("key")
        if op in _OPERATORS:
            parts.append(_OPERATORS[op] % (key, ",".join(expr.get("values") or [])))
        elif op in ("Exists", "DoesNotExist"):
            parts.append(key if op == "Exists" else "!" + key)
    return ",".join(parts) or None


def health_of(engine, e):
    """(status, message) of one entry now: its health rule, its pods while a workload is in progress."""
    client = engine.client
    live = client.get(e.resource, e.ref.namespace or None, e.ref.name)
    status, message = health.check(e.ref.group, e.ref.kind, live)
    if status == health.NOT_FOUND and isinstance(e.life, lifecycle.RunOnce):
        return health.CURRENT, "ran and is gone (run once)"
    if status == health.IN_PROGRESS and (e.ref.group, e.ref.kind) in health.POD_OWNERS:
        selector = pod_selector(live)
        if selector:
            pods = client.list(PODS, namespace=e.ref.namespace, label_selector=selector)
            status, message = health.workload_with_pods(status, message, pods)
    return status, message


def _lines(entries, report):
    return vocab.listing(["%s: %s" % (e.ref, report[e.ref.key]["message"]) for e in entries], LIST_LIMIT)


def wait(engine, entries, timeout, what="object(s) to become healthy"):
    """[{ref, status, healthy, message}] once every entry is Current; raises GitOpsError (with the
    same list as `health`) when one Failed or the timeout passed."""
    deadline = time.monotonic() + timeout
    pending = [e for e in entries if e.resource is not None]
    report = {}
    while True:
        results = engine.map(lambda e: (e, health_of(engine, e)), pending)
        for e, (status, msg) in results:
            report[e.ref.key] = health_entry(e, status, msg)
        listed = list(report.values())
        failed = [e for e, (status, _m) in results if status == health.FAILED]
        if failed:
            raise GitOpsError("%d object(s) failed and will not become healthy without a change:\n%s"
                              % (len(failed), _lines(failed, report)), health=listed)
        pending = [e for e, (status, _m) in results if status != health.CURRENT]
        if not pending:
            return listed
        if time.monotonic() > deadline:
            raise GitOpsError("timed out after %ds waiting for %d %s:\n%s"
                              % (timeout, len(pending), what, _lines(pending, report)), health=listed)
        time.sleep(POLL)
