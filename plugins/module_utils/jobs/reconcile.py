# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_reconcile as an orchestration of the engine's verbs: plan, converge (guards, dry-run and
apply, delete), wait, then record the inventory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from dataclasses import dataclass

from ansible_collections.gitops.core.plugins.module_utils.report import result
from ansible_collections.gitops.core.plugins.module_utils.engine import status
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import RUN, SKIP
from ansible_collections.gitops.core.plugins.module_utils.engine.converge import converge, record_inventory, writes_nothing
from ansible_collections.gitops.core.plugins.module_utils.engine.engine import Engine
from ansible_collections.gitops.core.plugins.module_utils.engine.engine import Options as EngineOptions
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


@dataclass(frozen=True)
class Options:
    """k8s_reconcile's options, typed: the engine's, and what only this module does."""
    engine: EngineOptions
    wait: bool
    wait_timeout: int
    list_unchanged: bool
    diff: bool
    source: dict
    started_by: dict
    status_interval: int

    def __post_init__(self):
        if self.wait_timeout < 1:
            raise GitOpsError("wait_timeout must be at least 1")
        if self.status_interval < 0:
            raise GitOpsError("status_interval must be 0 or more")

    @classmethod
    def from_params(cls, params, check_mode, diff):
        return cls(EngineOptions.from_params(params, check_mode=check_mode, keep_results=bool(diff)),
                   params["wait"], params["wait_timeout"], params["list_unchanged"], bool(diff),
                   dict(params.get("source") or {}), status.started_by(params.get("started_by")),
                   params.get("status_interval", status.INTERVAL))


def health_summary(health):
    """{healthy, unhealthy, by status} of a wait's per-object health."""
    if not health:
        return None
    out = {"healthy": sum(1 for h in health if h.get("healthy")), "unhealthy": sum(1 for h in health if not h.get("healthy"))}
    for h in health:
        key = h.get("status") or "Unknown"
        out[key] = out.get(key, 0) + 1
    return out


def _record_failure(client, options, exc, started):
    """A failed sync of a set that has an inventory is recorded too (always: a failure is never the
    unchanged case); a set that never synced gets none (a refused first run changes nothing).  Best
    effort - a status that cannot be written never hides the run's own error."""
    opts = options.engine
    if opts.check_mode or not opts.set_name:
        return
    try:
        configmap, previous = status.read(client, opts.inventory_namespace, opts.set_name, status.SYNC_STATUS_ANNOTATION)
        if configmap is None:
            return
        document = status.sync_status(opts.revision, options.source, "failed", exc.message,
                                      time.monotonic() - started, [], None, options.started_by, previous)
        if previous:  # what the inventory still records: a failed run never forgets an object
            document["objects"], document["object_count"] = previous.get("objects") or {}, previous.get("object_count") or 0
        status.write(client, opts.inventory_namespace, opts.set_name, status.SYNC_STATUS_ANNOTATION, document,
                     opts.field_manager)
    except Exception:  # pylint: disable=broad-except
        pass


def _record_success(engine, options, revision, refs, health, started, inventory_cm):
    """What the result's `status` says of the set's status after a successful sync (never in check mode)."""
    opts = options.engine
    document = status.sync_status(revision, options.source, "succeeded", None, time.monotonic() - started, refs,
                                  health_summary(health), options.started_by)
    return status.record(engine.client, opts.inventory_namespace, opts.set_name, status.SYNC_STATUS_ANNOTATION,
                         inventory_cm, document, opts.field_manager, options.status_interval)


def run(client, options, objects, sources=None, shared=None):
    """One set's reconcile, its status recorded on its inventory (engine/status.py) before the engine
    lets go of its Lease and client.  With `shared` (jobs/sets.py: the sets of one run), the set first
    plans from the run's grouped reads without its Lease; a set with nothing to write stops there,
    having written nothing (not even its Lease); any other set takes its Lease and plans again from its
    own fresh reads."""
    started = time.monotonic()
    opts = options.engine
    said = None
    with Engine(client, opts, shared) as engine:
        try:
            cs = None
            if engine.reads is not None:  # the run's grouped reads: enough for check mode, and for a plan that writes nothing
                cs = engine.plan(objects, sources)
                if not opts.check_mode and not writes_nothing(engine, cs):
                    engine.reads = cs = None  # it writes: under its Lease, from its own reads
            if cs is None:
                engine.take_lock()
                cs = engine.plan(objects, sources)
            cs = converge(engine, cs, hook_timeout=options.wait_timeout)
            health = None
            if options.wait and not opts.check_mode:
                health = engine.wait([e for e in cs.desired() if e.action not in (SKIP, RUN)], options.wait_timeout)
            refs, abandoned, revision = record_inventory(engine, cs, hooks_ran=True)
        except GitOpsError as exc:
            _record_failure(client, options, exc, started)
            raise
        if not opts.check_mode:
            said = _record_success(engine, options, revision, refs, health, started, cs.inventory.configmap)
    out = result.reconcile_result(cs, opts.set_name, opts.inventory_namespace, revision, refs, abandoned,
                                  options.list_unchanged)
    if said is not None:
        out["status"] = said
    lock = engine.lock.result()
    if lock:
        out["lock"] = lock
    if health is not None:
        out["health"] = health
    if options.diff:
        out["diff"] = [result.ansible_diff(e, engine.results.get(e.ref.key)) for e in cs.entries
                       if e.action in result.DIFF_ACTIONS]
    if shared is None:  # sets sharing a client: the requests of all of them, in jobs/sets.py's result
        out["api_requests"] = dict(sorted(client.counts.items()))
    out["duration"] = round(time.monotonic() - started, 3)
    return out
