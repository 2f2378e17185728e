# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One drift check: the reconcile plan (same engine, same requests), ignore rules, confirmation
of each candidate by a server-side-apply dry-run, attribution of each drifted field to the field
managers that own it, reports, and optional healing through the reconciler's own write path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils import compare, managedfields
from ansible_collections.gitops.core.plugins.module_utils import plan as planner
from ansible_collections.gitops.core.plugins.module_utils import report
from ansible_collections.gitops.core.plugins.module_utils.ignore import Rules
from ansible_collections.gitops.core.plugins.module_utils.reconcile import Reconciler

IN_SYNC, MODIFIED, MISSING, ORPHANED = "in_sync", "modified", "missing", "orphaned"
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
    out = {"ref": str(e.ref), "status": status, "source": e.source, "diffs": [], "changed_by": []}
    if status == MODIFIED:
        described = compare.describe(e.diffs, e.ref.kind)
        seen = set()
        for d, entry in zip(e.diffs, described):
            entry["changed_by"] = changed_by(e.live, d.path, manager)
            for c in entry["changed_by"]:
                key = (c["manager"], c["operation"], c.get("subresource"), c.get("time"))
                if key not in seen:
                    seen.add(key)
                    out["changed_by"].append({k: c.get(k) for k in ("manager", "operation", "subresource", "time")})
        out["diffs"] = described
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


def check(client, params, objects, sources=None, check_mode=False):
    started = time.monotonic()
    manager = params.get("field_manager") or "gitops-core"
    rules = Rules(params.get("ignore"))
    set_name = params["set_name"]
    the_plan = planner.build(client, objects, set_name, params.get("namespace") or "default", None, sources,
                             params.get("inventory_namespace") or "gitops-system", manager,
                             params.get("parallelism") or 8)
    reconciler = Reconciler(client, dict(params, force_conflicts=True), check_mode=True)

    candidates = []
    for e in the_plan.entries:
        if e.action == planner.UPDATE:
            e.diffs = [d for d in e.diffs if not rules.ignores(e.ref, e.live, d.path)]
            if e.diffs:
                candidates.append(e)
            else:
                e.action = planner.UNCHANGED
    if params.get("server_side_confirm", True) and candidates:
        for e in candidates:
            e.reason = None  # let the dry-run decide; an adoption alone is not drift
        reconciler.dry_run(candidates)  # UPDATE -> UNCHANGED where the server would change nothing

    statuses = []
    for e in the_plan.entries:
        if e.action == planner.SKIP:
            continue
        if e.body is None:
            if params.get("check_orphans", True) and e.action == planner.PRUNE:
                statuses.append((e, ORPHANED))
            continue
        if e.action == planner.CREATE:
            statuses.append((e, MISSING))
        elif e.action == planner.UPDATE and e.diffs:
            statuses.append((e, MODIFIED))
        else:
            statuses.append((e, IN_SYNC))

    results = [_object_result(e, status, manager) for e, status in statuses]
    summary = {IN_SYNC: 0, MODIFIED: 0, MISSING: 0, ORPHANED: 0}
    for _e, status in statuses:
        summary[status] += 1
    summary["total"] = len(statuses)
    result = {
        "drift": summary[MODIFIED] + summary[MISSING] + summary[ORPHANED] > 0,
        "summary": summary,
        "objects": results,
        "skipped_objects": [{"object": str(e.ref), "reason": e.reason} for e in the_plan.entries
                            if e.action == planner.SKIP],
        "revision": params.get("revision"),
    }

    if params.get("remediate") and result["drift"]:
        healer = Reconciler(client, dict(params, force_conflicts=True), check_mode=check_mode)
        writes = [e for e, status in statuses if status in (MODIFIED, MISSING)]
        for e in writes:
            e.action = planner.CREATE if e.live is None else planner.UPDATE
        healer.write(writes)
        prunes = [e for e, status in statuses if status == ORPHANED] if params.get("prune") else []
        if prunes:
            healer.prune(prunes)
        result["healed"] = {"applied": [str(e.ref) for e in writes], "pruned": [str(e.ref) for e in prunes]}

    result["api_requests"] = dict(sorted(client.counts.items()))
    result["duration"] = round(time.monotonic() - started, 3)
    if params.get("report_dir"):
        result["reports"] = report.write_all({k: v for k, v in result.items() if k != "reports"},
                                             params["report_dir"], set_name)
    return result
