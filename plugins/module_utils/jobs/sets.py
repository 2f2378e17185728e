# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many sets in one module run (option `sets`, as git_desired_state returns them from a sets
declaration): one process with one client, discovery and connection pool per identity, the first
plan of every set from reads grouped across sets (engine/reads.py), sets started as soon as each
of their dependencies is applied and healthy, independent sets in parallel (`set_parallelism`),
and each set with its own Lease, inventory, ownership, policy and guards exactly as when it runs
alone.  A set whose dependency failed or was skipped is skipped, naming why; unrelated sets go on;
the module fails at the end naming each failed and skipped set.

With `declaration`, the declaration's own inventory (engine/declaration.py) records the sets it
runs; a set that has left the declaration is abandoned and reported, or pruned whole when the
declaration says prune: its run with no desired object, through the one guarded delete path, all
removed sets together within the declaration's max_deletions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import threading
import time
from collections import namedtuple
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import connect
from ansible_collections.gitops.core.plugins.module_utils.common import graph
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.engine import declaration as declared
from ansible_collections.gitops.core.plugins.module_utils.engine.engine import Shared
from ansible_collections.gitops.core.plugins.module_utils.engine.reads import SharedReads
from ansible_collections.gitops.core.plugins.module_utils.report.result import failure_message

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
# What a module runs for each set (so that each module loads only its own job): kind "reconcile" or
# "drift"; options(params, check_mode, diff) -> its typed Options; run(client, options, objects, sources, shared).
Job = namedtuple("Job", "kind options run")
PRUNED, ABANDONED = "pruned", "abandoned"
# A set's fields that replace the module's option of the same name (None: keep the module's).
OVERRIDES = ("objects", "sources", "revision", "source", "namespace", "prune", "max_deletions", "adopt", "recreate",
             "policy", "inventory_namespace", "wait", "wait_timeout", "impersonate_user", "impersonate_groups")


def set_params(params, entry, kind):
    """The module params of one set: the module's, with the set's fields in their place."""
    out = dict(params, set_name=entry["name"], sets=None, declaration=None, src=None)
    for key in OVERRIDES:
        if key in out and entry.get(key) is not None:
            out[key] = entry[key]
    if entry.get("service_account"):
        namespace, _sep, name = entry["service_account"].partition("/")
        if not namespace or not name:
            raise GitOpsError("sets: set '%s': service_account '%s' must be <namespace>/<name>"
                              % (entry["name"], entry["service_account"]))
        out["impersonate_user"] = "system:serviceaccount:%s:%s" % (namespace, name)
    if kind == "drift":
        out["ignore"] = list(params.get("ignore") or []) + list(entry.get("ignore") or [])
    if params.get("report_dir"):  # one folder of reports per set
        out["report_dir"] = os.path.join(params["report_dir"], entry["name"])
    return out


class Plan(object):
    """The sets of one run, checked before anything is read or written: their names, each one's
    params and typed options, dependencies and dependents, and the order to start them."""

    def __init__(self, params, check_mode, diff, job):
        self.job = job
        kind = job.kind
        entries = params["sets"]
        names = [e["name"] for e in entries]
        seen = set()
        for index, name in enumerate(names):
            if name in seen:
                raise GitOpsError("sets[%d]: set '%s' is listed twice" % (index, name))
            seen.add(name)
        self.deps = {e["name"]: list(e.get("depends_on") or []) for e in entries}
        for index, e in enumerate(entries):
            for dep in self.deps[e["name"]]:
                if dep not in seen:
                    raise GitOpsError("sets[%d]: set '%s' depends on '%s', which is not among the sets"
                                      % (index, e["name"], dep))
        self.waves = graph.waves(names, self.deps)  # raises naming a cycle
        self.order = names
        self.dependents = {name: [n for n in names if name in self.deps[n]] for name in names}
        self.params, self.options, self.entries = {}, {}, {}
        for e in entries:
            name = e["name"]
            p = set_params(params, e, kind)
            if kind == "reconcile" and self.dependents[name]:
                p["wait"] = True  # its dependents start when it is healthy
            self.params[name], self.entries[name] = p, e
            try:
                self.options[name] = job.options(p, check_mode, diff)
            except GitOpsError as exc:
                raise GitOpsError("sets: set '%s': %s" % (name, exc.message))


class Clients(object):
    """One client, discovery and grouped reads per identity (the module's, or a set's
    service_account/impersonation), each made on first use and closed at the end."""

    def __init__(self, plan, parallelism):
        self.plan = plan
        self.parallelism = parallelism
        self._by_identity = {}
        self._lock = threading.Lock()  # the sets' threads ask at once

    @staticmethod
    def identity(params):
        return params.get("impersonate_user"), tuple(params.get("impersonate_groups") or ())

    def shared(self, params):
        key = self.identity(params)
        with self._lock:
            if key not in self._by_identity:
                client = connect(params, params["parallelism"] * self.parallelism)
                names = [n for n, p in self.plan.params.items() if self.identity(p) == key]
                self._by_identity[key] = Shared(client, SharedReads(client, names))
            return self._by_identity[key]

    def requests(self):
        total = {}
        for shared in self._by_identity.values():
            for verb, n in shared.client.counts.items():
                total[verb] = total.get(verb, 0) + n
        return dict(sorted(total.items()))

    def close(self):
        for shared in self._by_identity.values():
            shared.client.close()


def _run_one(plan, clients, name):
    shared = clients.shared(plan.params[name])
    e = plan.entries[name]
    return plan.job.run(shared.client, plan.options[name], e.get("objects") or [], e.get("sources"), shared)


def _skip_reason(plan, status, name):
    for dep in plan.deps[name]:
        if status.get(dep) == FAILED:
            return "its dependency '%s' failed" % dep
        if status.get(dep) == SKIPPED:
            return "its dependency '%s' was skipped" % dep
    return None


def schedule(plan, run_one, parallelism):
    """Run every set once its dependencies succeeded, at most `parallelism` at a time, in the
    declaration's order among those ready.  Returns {name: (status, result or GitOpsError or reason)}."""
    done = {}
    status = {}
    pending = list(plan.order)
    running = {}
    began = time.monotonic()

    def timed(name):  # when the set started and ended, in seconds since the first set started
        started = round(time.monotonic() - began, 3)
        out = run_one(name)
        return dict(out, started=started, finished=round(time.monotonic() - began, 3))

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="gitops-set") as pool:
        while pending or running:
            skipped = True
            while skipped:  # until no more set is skipped (a dependent may come before its dependency)
                skipped = False
                for name in list(pending):
                    reason = _skip_reason(plan, status, name)
                    if reason:
                        pending.remove(name)
                        status[name], done[name], skipped = SKIPPED, reason, True
                    elif all(status.get(dep) == OK for dep in plan.deps[name]) and len(running) < parallelism:
                        pending.remove(name)
                        running[pool.submit(timed, name)] = name
            if not running:
                break  # nothing runs and nothing can start: only with a cycle, which Plan refuses
            finished, _pending = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                try:
                    status[name], done[name] = OK, future.result()
                except GitOpsError as exc:
                    status[name], done[name] = FAILED, exc
    for name in pending:  # unreachable with an acyclic plan; never leave a set unreported
        done[name] = "not started"
    return {name: (status.get(name, SKIPPED), done[name]) for name in plan.order}


def _entry(name, status, value, plan):
    e = plan.entries[name]
    out = {"set": name, "status": status, "depends_on": plan.deps[name]}
    for key in ("source", "charts"):
        if e.get(key):
            out[key] = e[key]
    if status == OK:
        out.update(value)
    elif status == FAILED:
        out.update(value.details, msg=value.message)
    else:
        out["reason"] = value
    return out


def _removed_sets(job, params, check_mode, base, recorded, current, decl):
    """Abandon, or prune whole, the sets recorded by the declaration and no longer in it.  Returns
    (report entries, the record of the sets kept)."""
    entries, kept = [], {}
    budget = decl.get("max_deletions")
    for name in sorted(set(recorded) - set(current)):
        record = recorded[name]
        namespace = record.get("inventory_namespace") or params["inventory_namespace"]
        if not decl.get("prune"):
            kept[name] = dict(record, abandoned=True)
            entries.append({"set": name, "action": ABANDONED, "inventory_namespace": namespace,
                            "reason": "no longer declared; the declaration does not prune (its objects stay)"})
            continue
        p = dict(params, set_name=name, objects=[], sources=None, inventory_namespace=namespace, allow_empty=True,
                 prune=True, max_deletions=budget, wait=False, sets=None, declaration=None)
        try:
            out = job.run(base.client, job.options(p, check_mode, False), [], None,
                          Shared(base.client, discovery=base.discovery))  # its own reads: not grouped
        except GitOpsError as exc:
            kept[name] = record
            entries.append({"set": name, "action": "failed", "inventory_namespace": namespace, "msg": exc.message})
            continue
        pruned = out.get("pruned") or []
        if budget is not None:
            budget -= len(pruned)
        left = (out.get("inventory") or {}).get("objects", 0)
        if left or check_mode:
            kept[name] = record
        else:
            declared.forget_set(base.client, namespace, name)
        entries.append({"set": name, "action": PRUNED, "inventory_namespace": namespace, "pruned": pruned,
                        "kept": left, "reason": "no longer declared; pruned whole"
                        + (" (check mode: what a run would prune)" if check_mode else "")})
    return entries, kept


def run_all(params, check_mode, diff, job):
    """Every set of params["sets"], each run by `job`.  Returns (result, failure message or None)."""
    kind = job.kind
    started = time.monotonic()
    plan = Plan(params, check_mode, diff, job)
    decl = params.get("declaration") or None
    clients = Clients(plan, max(1, params["set_parallelism"]))
    try:
        base = clients.shared(params)
        current = {name: {"inventory_namespace": plan.params[name]["inventory_namespace"]} for name in plan.order}
        recorded, exists = ({}, False)
        if decl and kind == "reconcile":
            recorded, exists = declared.read(base.client, params["inventory_namespace"], decl["name"])
            intent = dict(recorded, **current)
            if not check_mode and (not exists or intent != recorded):  # before the first write of a set
                declared.write(base.client, params["inventory_namespace"], decl["name"], intent,
                               params["field_manager"])
        outcome = schedule(plan, lambda name: _run_one(plan, clients, name), params["set_parallelism"])
        out = {"sets": [_entry(name, status, value, plan) for name, (status, value) in outcome.items()]}
        if decl and kind == "reconcile":
            removed, kept = _removed_sets(job, params, check_mode, base, recorded, current, decl)
            final = dict(kept, **current)
            if not check_mode and final != dict(recorded, **current):
                declared.write(base.client, params["inventory_namespace"], decl["name"], final,
                               params["field_manager"])
            out["removed_sets"] = removed
            out["declaration"] = {"name": decl["name"], "inventory_namespace": params["inventory_namespace"],
                                  "sets": len(final)}
        out["api_requests"] = clients.requests()
        out["duration"] = round(time.monotonic() - started, 3)
    finally:
        clients.close()
    return out, _summarise(out, plan)


def _summarise(out, plan):
    failed = [e for e in out["sets"] if e["status"] == FAILED]
    skipped = [e for e in out["sets"] if e["status"] == SKIPPED]
    removed_failed = [e for e in out.get("removed_sets") or () if e["action"] == "failed"]
    out["summary"] = {"sets": len(out["sets"]), "ok": len(out["sets"]) - len(failed) - len(skipped),
                      "changed": [e["set"] for e in out["sets"] if e.get("changed")],
                      "failed": [e["set"] for e in failed], "skipped": [e["set"] for e in skipped],
                      "waves": plan.waves}
    if not (failed or skipped or removed_failed):
        return None
    parts = ["%s failed: %s" % (e["set"], e["msg"]) for e in failed]
    parts += ["%s skipped: %s" % (e["set"], e["reason"]) for e in skipped]
    parts += ["%s (no longer declared) could not be pruned: %s" % (e["set"], e["msg"]) for e in removed_failed]
    return "%d of %d sets did not complete; %s" % (len(failed) + len(skipped), len(out["sets"]), "; ".join(parts))


def run_module(module, params, job):
    """k8s_reconcile's and drift_check's run of option `sets` (`job`: what each set runs): exit_json
    or fail_json."""
    kind = job.kind
    kubeconfig.require(module)
    try:
        out, failure = run_all(params, module.check_mode, module._diff, job)
    except GitOpsError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    diffs = []
    for e in out["sets"]:
        diffs.extend(e.pop("diff", None) or [])
    if module._diff:
        out["diff"] = diffs
    pruned = any(e.get("pruned") for e in out.get("removed_sets") or ())
    if kind == "reconcile":
        out["changed"] = pruned or any(e.get("changed") for e in out["sets"])
    else:
        out["changed"] = any((e.get("healed") or {}).get("applied") or (e.get("healed") or {}).get("pruned")
                             for e in out["sets"])  # (drift, healed below)
        drifted = [e for e in out["sets"] if e.get("drift")]
        out["summary"]["drifted"] = [e["set"] for e in drifted]
        for e in out["sets"]:  # the counts of one set's summary (modified, missing, ...), over all sets
            for key, n in (e.get("summary") or {}).items():
                if isinstance(n, int) and not isinstance(n, bool):
                    out["summary"][key] = out["summary"].get(key, 0) + n
        healed = [e for e in out["sets"] if e.get("healed")]
        if healed:  # what the heals of all sets applied and pruned, each ref naming its set
            out["healed"] = {key: ["%s: %s" % (e["set"], ref) for e in healed for ref in e["healed"].get(key) or ()]
                             for key in ("applied", "pruned")}
        out["drift"] = bool(drifted)  # as one set's result says it, and its objects, each naming its set
        out["objects"] = [dict(o, set=e["set"]) for e in out["sets"] for o in e.get("objects") or ()]
        if drifted and params["fail_on_drift"]:
            message = "drift in %d of %d sets: %s" % (len(drifted), len(out["sets"]), "; ".join(
                "%s: %s" % (e["set"], failure_message(e)) for e in drifted))
            failure = "%s; %s" % (failure, message) if failure else message
    if failure:
        module.fail_json(msg=failure, **out)
    module.exit_json(**out)
