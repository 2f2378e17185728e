# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One reconcile: plan, validate every write by server-side dry-run (all or nothing), apply in
order, prune what left Git, wait for health, then write the inventory.

Writes happen only after every object to be written passed its dry-run.  Two kinds of objects
cannot be dry-run before the run starts: those in a Namespace the same run creates, and custom
resources whose CRD the same run creates; they are dry-run just before their own phase."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby

from ansible_collections.gitops.core.plugins.module_utils import compare, health, inventory, order
from ansible_collections.gitops.core.plugins.module_utils import plan as planner
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.kube import ApiError

CRD_TIMEOUT = 60


def _conflict_message(exc):
    causes = (exc.body.get("details") or {}).get("causes") or []
    fields = ", ".join(c.get("field", "") for c in causes if c.get("field"))
    return "%s%s" % (exc.reason, " (fields: %s)" % fields if fields else "")


def _run_parallel(fn, entries, parallelism):
    """fn(entry) for each entry; returns [(entry, error message)] of the failures."""
    failures = []

    def guarded(entry):
        try:
            fn(entry)
            return None
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            text = _conflict_message(exc) if exc.status == 409 else exc.reason
            if exc.status == 409:
                text = "conflict with another field manager: %s (force_conflicts is false)" % text
            return entry, text
        except GitOpsError as exc:
            return entry, exc.message

    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        for failure in pool.map(guarded, entries):
            if failure:
                failures.append(failure)
    return failures


def _fail(what, failures, limit=20):
    lines = ["%s: %s" % (e.where, msg) for e, msg in failures[:limit]]
    more = " (and %d more)" % (len(failures) - limit) if len(failures) > limit else ""
    raise GitOpsError("%s for %d object(s)%s:\n%s" % (what, len(failures), more, "\n".join(lines)),
                      failures=[{"object": str(e.ref), "source": e.source, "error": m} for e, m in failures])


class Reconciler(object):
    def __init__(self, client, params, check_mode=False):
        self.client = client
        self.p = params
        self.check_mode = check_mode
        self.manager = params.get("field_manager") or "gitops-core"
        self.force = params.get("force_conflicts", True)
        self.parallelism = params.get("parallelism") or 8

    # -------------------------------------------------------------- steps

    def dry_run(self, entries):
        def one(e):
            e.result = self.client.apply(e.resource, e.body, self.manager, self.force, dry_run=True)
        failures = _run_parallel(one, entries, self.parallelism)
        if failures:
            _fail("server-side dry-run refused the desired state; nothing was %s" %
                  ("applied" if not self.check_mode else "changed"), failures)
        for e in entries:  # a candidate whose dry-run equals the live object changes nothing
            if e.action == planner.UPDATE and e.live is not None and compare.same_result(e.result, e.live) \
                    and not e.reason:
                e.action = planner.UNCHANGED

    def apply(self, entries):
        def one(e):
            e.result = self.client.apply(e.resource, e.body, self.manager, self.force)
        failures = _run_parallel(one, entries, self.parallelism)
        if failures:
            _fail("apply failed (objects before these in apply order were applied; nothing was pruned "
                  "and the inventory was not changed)", failures)

    def wait_crds(self, crds):
        deadline = time.monotonic() + CRD_TIMEOUT
        pending = list(crds)
        while pending:
            pending = [e for e in pending
                       if not health.crd(self.client.get(e.resource, None, e.ref.name) or {})[0]]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise GitOpsError("CustomResourceDefinition(s) not Established after %ds: %s"
                                  % (CRD_TIMEOUT, ", ".join(str(e.ref) for e in pending)))
            time.sleep(0.25)
        self.client.rediscover()

    def prune(self, entries):
        propagation = self.p.get("prune_propagation") or "Background"

        def one(e):
            if e.resource is None:
                raise GitOpsError("the cluster no longer serves %s %s" % (e.ref.api_version, e.ref.kind))
            self.client.delete(e.resource, e.ref.namespace or None, e.ref.name, propagation,
                               dry_run=self.check_mode)
        ordered = sorted(entries, key=lambda e: order.prune_key(e.ref, e.live or {}))
        for _key, group in groupby(ordered, key=lambda e: order.prune_key(e.ref, e.live or {})[:2]):
            failures = _run_parallel(one, list(group), self.parallelism)
            if failures:
                _fail("prune failed (the inventory was not changed)", failures)

    def wait_healthy(self, entries, timeout):
        deadline = time.monotonic() + timeout
        pending = [e for e in entries if e.resource is not None]
        report = {}
        while True:
            def check(e):
                obj = self.client.get(e.resource, e.ref.namespace or None, e.ref.name)
                return e, health.check(e.ref.group, e.ref.kind, obj)
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                results = list(pool.map(check, pending))
            for e, (ok, msg) in results:
                report[str(e.ref)] = {"healthy": ok, "message": msg}
            pending = [e for e, (ok, _m) in results if not ok]
            if not pending:
                return report
            if time.monotonic() > deadline:
                lines = ["%s: %s" % (e.ref, report[str(e.ref)]["message"]) for e in pending[:20]]
                raise GitOpsError("timed out after %ds waiting for %d object(s) to become healthy:\n%s"
                                  % (timeout, len(pending), "\n".join(lines)), health=report)
            time.sleep(1)

    def write(self, writes):
        """Dry-run every write that can be validated now (all or nothing), then apply in order,
        phase by phase; objects that depend on a Namespace or CRD created in this run are
        dry-run at the start of their own phase."""
        new_namespaces = {e.ref.name for e in writes if e.ref.kind == "Namespace" and e.ref.group == ""
                          and e.action == planner.CREATE}
        deferred = [e for e in writes if e.resource is None or (e.ref.namespace in new_namespaces)]
        self.dry_run([e for e in writes if e not in deferred])
        if self.check_mode:
            return
        ordered = sorted(writes, key=lambda e: order.apply_key(e.ref, e.body))
        for _key, group in groupby(ordered, key=lambda e: order.apply_key(e.ref, e.body)[:2]):
            group = list(group)
            for e in group:
                if e.resource is None:
                    e.resource = self.client.resource(e.ref.group, e.ref.version, e.ref.kind)
                    if e.resource is None:
                        raise GitOpsError("%s: the cluster still does not serve %s after its CRD was applied"
                                          % (e.where, e.ref.api_version))
            later = [e for e in group if e in deferred]
            if later:
                self.dry_run(later)
            todo = [e for e in group if e.action in (planner.CREATE, planner.UPDATE)]
            self.apply(todo)
            crds = [e for e in todo if e.ref.kind == "CustomResourceDefinition"]
            if crds:
                self.wait_crds(crds)

    # -------------------------------------------------------------- the run

    def run(self, objects, sources=None):
        started = time.monotonic()
        p = self.p
        set_name = p["set_name"]
        inv_ns = p.get("inventory_namespace") or "gitops-system"
        the_plan = planner.build(self.client, objects, set_name, p.get("namespace") or "default",
                                 p.get("revision"), sources, inv_ns, self.manager, self.parallelism)
        desired = [e for e in the_plan.entries if e.body is not None]
        prunes = the_plan.by_action(planner.PRUNE) if p.get("prune", True) else []
        if p.get("prune", True) and not desired and not p.get("allow_empty") and (prunes or the_plan.inventory_refs):
            raise GitOpsError("the desired set '%s' is empty; refusing to prune %d object(s) (set allow_empty: "
                              "true if the set really should be empty)" % (set_name, len(prunes)))
        limit = p.get("max_deletions")
        if limit is not None and len(prunes) > limit:
            names = ", ".join(str(e.ref) for e in prunes[:50])
            raise GitOpsError("this run would prune %d objects, more than max_deletions=%d; nothing was changed. "
                              "It would delete: %s%s" % (len(prunes), limit, names, " ..." if len(prunes) > 50 else ""),
                              would_prune=[str(e.ref) for e in prunes])

        self.write(the_plan.writes())
        if prunes:
            self.prune(prunes)
        report = None
        if p.get("wait") and not self.check_mode:
            report = self.wait_healthy([e for e in desired if e.action != planner.SKIP], p.get("wait_timeout") or 300)

        keep = sorted({e.ref for e in desired})  # what left the set (pruned or not) is no longer tracked
        inv_changed = [list(r) for r in keep] != [list(r) for r in sorted(the_plan.inventory_refs)] \
            or the_plan.inventory_cm is None \
            or (the_plan.inventory_cm.get("data") or {}).get("revision", "") != (p.get("revision") or "")
        if inv_changed and not self.check_mode:
            inventory.write(self.client, inv_ns, set_name, keep, p.get("revision"), self.manager)
        return self._result(the_plan, desired, prunes, report, inv_ns, set_name, len(keep), started)

    def _result(self, the_plan, desired, prunes, report, inv_ns, set_name, count, started):
        def names(action):  # in the order the run applies them
            chosen = [e for e in the_plan.entries if e.action == action]
            return [str(e.ref) for e in sorted(chosen, key=lambda e: order.apply_key(e.ref, e.body or {}))]
        created, updated = names(planner.CREATE), names(planner.UPDATE)
        pruned = [str(e.ref) for e in sorted(prunes, key=lambda e: order.prune_key(e.ref, e.live or {}))]
        result = dict(
            changed=bool(created or updated or pruned),
            created=created, updated=updated, pruned=pruned,
            skipped_objects=[{"object": str(e.ref), "reason": e.reason}
                             for e in the_plan.entries if e.action == planner.SKIP],
            unchanged=len(names(planner.UNCHANGED)),
            objects=[{"ref": str(e.ref), "action": e.action, "source": e.source,
                      "diffs": compare.describe(e.diffs, e.ref.kind) if e.action == planner.UPDATE else []}
                     for e in the_plan.entries],
            inventory={"name": inventory.name_for(set_name), "namespace": inv_ns,
                       "revision": self.p.get("revision"), "objects": count},
            api_requests=dict(sorted(self.client.counts.items())),
            duration=round(time.monotonic() - started, 3),
        )
        if report is not None:
            result["health"] = report
        if self.p.get("_diff"):
            result["diff"] = [_ansible_diff(e) for e in the_plan.entries
                              if e.action in (planner.CREATE, planner.UPDATE) or e in prunes]
        return result


def _yaml(obj):
    if obj is None:
        return ""
    import yaml
    return yaml.safe_dump(compare.mask_secret(compare.strip_server_fields(obj)), sort_keys=True,
                          default_flow_style=False)


def _ansible_diff(e):
    """Ansible's before/after for one object: live vs what the dry-run (or apply) returned;
    Secret values hidden, server-owned metadata stripped."""
    after = None if e.action == planner.PRUNE else (e.result or e.body)
    return {"before_header": "%s (live)" % (e.ref,), "after_header": "%s (%s)" % (e.ref, e.action),
            "before": _yaml(e.live), "after": _yaml(after)}
