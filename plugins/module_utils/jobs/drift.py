# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""drift_check as an orchestration of the engine's verbs: the plan (same engine, same requests
as k8s_reconcile, with the ignore rules applied as it decides), confirmation of each candidate by
a server-side-apply dry-run, the result and reports (result.py, report.py), and optional healing
through the reconcile path itself (converge.py), with every guard."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from dataclasses import dataclass
from typing import Optional

from ansible_collections.gitops.core.plugins.module_utils.report import report, result
from ansible_collections.gitops.core.plugins.module_utils.engine import status
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import ADOPT, PRUNE, UPDATE
from ansible_collections.gitops.core.plugins.module_utils.engine.converge import converge, record_inventory
from ansible_collections.gitops.core.plugins.module_utils.engine.engine import Engine
from ansible_collections.gitops.core.plugins.module_utils.engine.engine import Options as EngineOptions
from ansible_collections.gitops.core.plugins.module_utils.observe.ignore import Rules


@dataclass(frozen=True)
class Options:
    """drift_check's options, typed: the engine's, and what only this module does."""
    engine: EngineOptions
    check_orphans: bool
    server_side_confirm: bool
    list_in_sync: bool
    remediate: bool
    fail_on_drift: bool
    report_dir: Optional[str]
    started_by: dict
    status_interval: int
    source: dict

    @classmethod
    def from_params(cls, params, check_mode):
        # Healing takes over conflicting fields; it prunes only orphans that are reported.  An
        # object counts as drifted only by its differences (after the ignore rules), not because
        # our field manager never applied it.
        engine = EngineOptions.from_params(params, check_mode=check_mode, force_conflicts=True,
                                           prune=params["prune"] and params["check_orphans"],
                                           ignore=Rules(params["ignore"]), count_unowned=False)
        return cls(engine, params["check_orphans"], params["server_side_confirm"], params["list_in_sync"],
                   params["remediate"], params["fail_on_drift"], params["report_dir"],
                   status.started_by(params.get("started_by")), params.get("status_interval", status.INTERVAL),
                   dict(params.get("source") or {}))


def _drift_status(client, options, out, inventory_cm):
    """The check recorded on the set's inventory (engine/status.py): in sync, drift (how many objects)
    or healed; never in check mode."""
    opts = options.engine
    drifted = sum(n for key, n in out["summary"].items() if key not in (result.IN_SYNC, "total"))
    outcome = "healed" if out.get("healed") else "drift" if out["drift"] else "in sync"
    document = status.drift_status(opts.revision, outcome, drifted, None, options.started_by,
                                   options.source.get("charts"))
    return status.record(client, opts.inventory_namespace, opts.set_name, status.DRIFT_STATUS_ANNOTATION,
                         inventory_cm, document, opts.field_manager, options.status_interval)


def check(client, options, objects, sources=None, shared=None):
    """One set's drift check; `shared`: the client, discovery and grouped reads of the sets of one
    run (jobs/sets.py).  Healing plans again from the set's own reads under its Lease."""
    started = time.monotonic()
    opts = options.engine
    with Engine(client, opts, shared) as engine:
        if options.remediate and engine.reads is None:
            engine.take_lock()  # a read-only check takes no lock; sets sharing reads take it to heal
        cs = engine.plan(objects, sources)
        candidates = cs.by_action(UPDATE, ADOPT)
        if options.server_side_confirm and candidates:
            cs = cs.replaced(engine.dry_run(candidates))  # an update the server would not change is no drift
        reported = [(e, s) for e, s in ((e, result.status_of(e)) for e in cs.entries)
                    if s is not None and (s != result.ORPHANED or options.check_orphans)]
        out, every = result.drift_result(reported, opts.field_manager, options.list_in_sync, opts.revision)
        out["skipped_objects"] = result.skipped(cs)
        out["hooks"] = result.hooks(cs)
        if options.remediate and out["drift"]:
            if engine.reads is not None:  # what was read before the Lease: read again under it
                engine.reads = None
                engine.take_lock()
                cs = engine.plan(objects, sources)
            healed = converge(engine, cs)
            record_inventory(engine, healed)
            out["healed"] = {"applied": [str(e.ref) for e in healed.writes()], "pruned": result.refs_of(healed, PRUNE)}
        lock = engine.lock.result()
        if lock:
            out["lock"] = lock
        if not opts.check_mode and opts.set_name and cs.inventory.configmap is not None:  # a set that has synced
            out["status"] = _drift_status(client, options, out, cs.inventory.configmap)

    if shared is None:  # sets sharing a client: the requests of all of them, in jobs/sets.py's result
        out["api_requests"] = dict(sorted(client.counts.items()))
    out["duration"] = round(time.monotonic() - started, 3)
    if options.report_dir:  # reports list every object, in sync or not
        out["reports"] = report.write_all(dict(out, objects=every), [e.ref for e, _s in reported],
                                          options.report_dir, opts.set_name)
    return out
