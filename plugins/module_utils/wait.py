# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wait verb: poll the health of applied objects until all are Current; fail as soon as one
is Failed (its reason in the message), or when the timeout passes (each object still waited for,
with why)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils import health
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError

POLL = 1.0
LIST_LIMIT = 20


def _lines(entries, report):
    lines = ["%s: %s" % (e.ref, report[str(e.ref)]["message"]) for e in entries[:LIST_LIMIT]]
    if len(entries) > LIST_LIMIT:
        lines.append("(and %d more)" % (len(entries) - LIST_LIMIT))
    return "\n".join(lines)


def wait(engine, entries, timeout):
    """{ref: {status, healthy, message}} once every entry is Current; raises GitOpsError (with the
    same report as `health`) when one Failed or the timeout passed."""
    client = engine.client
    deadline = time.monotonic() + timeout
    pending = [e for e in entries if e.resource is not None]
    report = {}
    while True:
        def one(e):
            return e, health.check(e.ref.group, e.ref.kind, client.get(e.resource, e.ref.namespace or None, e.ref.name))
        results = engine.map(one, pending)
        for e, (status, msg) in results:
            report[str(e.ref)] = {"status": status, "healthy": status == health.CURRENT, "message": msg}
        failed = [e for e, (status, _m) in results if status == health.FAILED]
        if failed:
            raise GitOpsError("%d object(s) failed and will not become healthy without a change:\n%s"
                              % (len(failed), _lines(failed, report)), health=report)
        pending = [e for e, (status, _m) in results if status != health.CURRENT]
        if not pending:
            return report
        if time.monotonic() > deadline:
            raise GitOpsError("timed out after %ds waiting for %d object(s) to become healthy:\n%s"
                              % (timeout, len(pending), _lines(pending, report)), health=report)
        time.sleep(POLL)
