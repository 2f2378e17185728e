# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""drift_check as an orchestration of the engine's verbs: the plan (same engine, same requests
as k8s_reconcile), ignore rules, confirmation of each candidate by a server-side-apply dry-run,
attribution of each drifted field to the field managers that own it, reports, and optional
healing through the reconcile path itself (reconcile.converge), with every guard."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils import changeset, managedfields, report
from ansible_collections.gitops.core.plugins.module_utils.changeset import (
    ADOPT, IN_SYNC, MISSING, MODIFIED, ORPHANED, UNCHANGED, UPDATE)
from ansible_collections.gitops.core.plugins.module_utils.engine import Engine, Options
from ansible_collections.gitops.core.plugins.module_utils.ignore import Rules
from ansible_collections.gitops.core.plugins.module_utils.reconcile import converge, record_inventory

FAIL_LIST = 20


def changed_by(live, path, our_manager):
    """Who owns the drifted field now.  When nobody does (the field was removed, and Kubernetes
    keeps no record of who removed it), the most recent writer other than us that could have
    changed it (status-subresource writers cannot touch spec or metadata), marked as a guess."""
    owners = [m for m in managedfields.managers_of(live, path) if m["manager"] != our_manager]
    if owners:
        return owners
    could = [e for e in managedfields.entries(live)
             if e.get("manager") != our_manager and e.get("time")
             and (e.get("subresource") != "status" or path[:1] == ("status",))]
    if not could:
        return []
    last = max(could, key=lambda e: e["time"])
    return [{"manager": last.get("manager"), "operation": last.get("operation"),
             "subresource": last.get("subresource"), "time": last.get("time"),
             "note": "last writer; the field itself has no owner now"}]


def _object_result(e, status, manager):
    out = dict(changeset.entry_result(e), status=status, changed_by=[])
    if status != MODIFIED:
        return out
    seen = set()
    for d, entry in zip(e.diffs, out["diffs"]):
        entry["changed_by"] = changed_by(e.live, d.path, manager)
        for c in entry["changed_by"]:
            key = (c["manager"], c["operation"], c.get("subresource"), c.get("time"))
            if key not in seen:
                seen.add(key)
                out["changed_by"].append({k: c.get(k) for k in ("manager", "operation", "subresource", "time")})
    return out


def failure_message(result):
    drifted = [o for o in result["objects"] if o["status"] != IN_SYNC]
    lines = []
    for obj in drifted[:FAIL_LIST]:
        if obj["status"] == MODIFIED:
            fields = "; ".join("%s (changed by %s)" % (report.field_line(d), report.who(d.get("changed_by")))
                               for d in obj["diffs"][:5])
            more = " (+%d more fields)" % (len(obj["diffs"]) - 5) if len(obj["diffs"]) > 5 else ""
            lines.append("%s: %s%s" % (obj["ref"], fields, more))
        else:
            lines.append("%s: %s" % (obj["ref"], obj["status"]))
    more = "\n... and %d more drifted objects" % (len(drifted) - FAIL_LIST) if len(drifted) > FAIL_LIST else ""
    s = result["summary"]
    return ("drift detected: %d modified, %d missing, %d orphaned of %d objects\n%s%s"
            % (s["modified"], s["missing"], s["orphaned"], s["total"], "\n".join(lines), more))


def _apply_ignore_rules(cs, rules):
    """Drop ignored differences; an update left with none is unchanged (an adoption stays: it is a takeover)."""
    candidates = []
    for e in cs.by_action(UPDATE, ADOPT):
        e.diffs = [d for d in e.diffs if not rules.ignores(e.ref, e.live, d.path)]
        if e.diffs or e.action == ADOPT:
            candidates.append(e)
        else:
            e.action = UNCHANGED
    return candidates


def check(client, params, objects, sources=None, check_mode=False):
    started = time.monotonic()
    # Healing takes over conflicting fields; it prunes only orphans that are reported.
    opts = Options.from_params(params, check_mode=check_mode, force_conflicts=True,
                               prune=bool(params.get("prune") and params.get("check_orphans", True)))
    with Engine(client, opts) as engine:
        if params.get("remediate"):
            engine.take_lock()  # a read-only check takes no lock
        cs = engine.plan(objects, sources)
        candidates = _apply_ignore_rules(cs, Rules(params.get("ignore")))
        if params.get("server_side_confirm", True) and candidates:
            engine.dry_run(candidates, confirm_only=True)  # an update the server would not change is no drift

        statuses = [(e, changeset.status_of(e)) for e in cs.entries]
        statuses = [(e, s) for e, s in statuses
                    if s is not None and (s != ORPHANED or params.get("check_orphans", True))]
        summary = {IN_SYNC: 0, MODIFIED: 0, MISSING: 0, ORPHANED: 0}
        for _e, status in statuses:
            summary[status] += 1
        summary["total"] = len(statuses)
        every = [_object_result(e, status, opts.field_manager) for e, status in statuses]
        result = {
            "drift": summary[MODIFIED] + summary[MISSING] + summary[ORPHANED] > 0,
            "summary": summary,
            # in-sync objects only on request: at 1,000 objects a full list cost Ansible ~0.3 s to carry
            "objects": every if params.get("list_in_sync") else [o for o in every if o["status"] != IN_SYNC],
            "skipped_objects": changeset.skipped(cs),
            "revision": params.get("revision"),
        }

        if params.get("remediate") and result["drift"]:
            for e in cs.by_action(UPDATE):
                if not e.diffs:
                    e.action = UNCHANGED  # heal exactly what is reported
            writes = cs.writes()
            pruned = converge(engine, cs)
            record_inventory(engine, cs)
            result["healed"] = {"applied": [str(e.ref) for e in writes], "pruned": [str(e.ref) for e in pruned]}
        lock = engine.lock.result()
        if lock:
            result["lock"] = lock

    result["api_requests"] = dict(sorted(client.counts.items()))
    result["duration"] = round(time.monotonic() - started, 3)
    if params.get("report_dir"):  # reports list every object, in sync or not
        result["reports"] = report.write_all(dict(result, objects=every), params["report_dir"], params["set_name"])
    return result
