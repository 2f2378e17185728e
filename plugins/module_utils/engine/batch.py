# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running one verb over many entries on the engine's pool, collecting per-object failures into
one error that names each object (401/403 abort at once: no other object would fare better)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.common import sanitize, vocab
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import error_entry
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import ApiError, Unreachable

LIMIT = 20


def _conflict_message(exc):
    causes = (exc.body.get("details") or {}).get("causes") or []
    fields = ", ".join(c.get("field", "") for c in causes if c.get("field"))
    return "%s%s" % (exc.reason, " (fields: %s)" % fields if fields else "")


def _attempt(fn, entry):
    """None when fn(entry) succeeds, else the error message."""
    try:
        fn(entry)
        return None
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        if exc.status == 409 and (exc.body.get("details") or {}).get("causes"):
            return "conflict with another field manager: %s (force_conflicts is false)" % _conflict_message(exc)
        return exc.reason
    except Unreachable:
        raise  # the server is gone: one error for the run, not one per object
    except GitOpsError as exc:
        return exc.message


def each(engine, fn, entries):
    """fn(entry) for each entry; returns [(entry, error message)] of the failures."""

    def guarded(entry):
        failure = _attempt(fn, entry)
        if failure is None:
            return None
        # the API server may quote a Secret's values: none reaches a result, a warning or a report
        return entry, sanitize.scrub(entry.body, sanitize.scrub(entry.live, failure))

    return [failure for failure in engine.map(guarded, entries) if failure]


def fail(what, failures):
    """Raise one GitOpsError for every (entry, message) of `failures`: the first LIMIT named in the
    message, each in the details' `failures` (ref, source, error)."""
    raise GitOpsError("%s for %d object(s):\n%s" % (what, len(failures),
                                                    vocab.listing(["%s: %s" % (e.where, m) for e, m in failures], LIMIT)),
                      failures=[error_entry(e, error=m) for e, m in failures])
