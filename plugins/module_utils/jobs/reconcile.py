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

    def __post_init__(self):
        if self.wait_timeout < 1:
            raise GitOpsError("wait_timeout must be at least 1")

    @classmethod
    def from_params(cls, params, check_mode, diff):
        return cls(EngineOptions.from_params(params, check_mode=check_mode, keep_results=bool(diff)),
                   params["wait"], params["wait_timeout"], params["list_unchanged"], bool(diff))


def run(client, options, objects, sources=None, shared=None):
    """One set's reconcile.  With `shared` (jobs/sets.py: the sets of one run), the set first plans
    from the run's grouped reads without its Lease; a set with nothing to write stops there, having
    written nothing (not even its Lease); any other set takes its Lease and plans again from its own
    fresh reads."""
    started = time.monotonic()
    opts = options.engine
    with Engine(client, opts, shared) as engine:
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
    out = result.reconcile_result(cs, opts.set_name, opts.inventory_namespace, revision, refs, abandoned,
                                  options.list_unchanged)
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
