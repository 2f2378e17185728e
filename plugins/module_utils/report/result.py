# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every per-object shape that leaves a module, built from the final ChangeSet in one place.

- `objects`: one entry per object, the same keys in k8s_reconcile and drift_check: `ref`,
  `action`, `source`, `reason`, `diffs` (drift_check adds `status` and `changed_by`);
- `created`/`updated`/`adopted`/`pruned`: the refs of the entries with that action, in apply
  (prune) order, derived from the same entries, never kept beside them;
- `skipped_objects`, `health`, the per-object `failures`/`conflicts` of an error: lists of
  entries keyed by `ref`, like `objects`;
- drift_check's `status`, derived from the action by status_of() and nowhere else, its summary
  and its failure message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.gitops.core.plugins.module_utils.common import sanitize, vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import lifecycle, order
from ansible_collections.gitops.core.plugins.module_utils.observe import compare, managedfields
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import (
    ABANDON, ADOPT, CREATE, PRUNE, RECREATE, RUN, SKIP, UNCHANGED, UPDATE)

# drift_check's statuses, derived from the action by status_of().
IN_SYNC, MODIFIED, MISSING, ORPHANED = "in_sync", "modified", "missing", "orphaned"
DRIFT_STATUSES = (MODIFIED, MISSING, ORPHANED)
FAIL_OBJECTS, FAIL_FIELDS = 20, 5  # how much of the drift a failure message lists
MAX_VALUE = 120  # a value longer than this is cut in messages and reports


def status_of(entry):
    """drift_check's status of one entry, or None when the entry is not reported (skipped, and
    Helm hooks: they run when their release changes, and are gone or left as they ran)."""
    if entry.action in (SKIP, RUN) or isinstance(entry.life, lifecycle.Hook):
        return None
    if not entry.desired:
        return ORPHANED if entry.action in (PRUNE, ABANDON) else None
    if entry.action == CREATE:
        return MISSING
    if entry.action in (UPDATE, ADOPT, RECREATE) and entry.diffs:
        return MODIFIED
    return IN_SYNC


def entry_result(entry):
    """The plain-data form of one entry, the same in every module's `objects`."""
    return {"ref": str(entry.ref), "action": entry.action, "source": entry.source, "reason": entry.reason,
            "diffs": compare.describe(entry.diffs, entry.ref.kind, entry.body, entry.live) if entry.action in (UPDATE, ADOPT, RECREATE) else []}


def skipped(changeset):
    """Objects left alone, each with the reason (the result key `skipped_objects`); hooks are in `hooks`."""
    return [{"ref": str(e.ref), "action": e.action, "reason": e.reason} for e in changeset.by_action(SKIP, ABANDON)
            if not isinstance(e.life, lifecycle.Hook)]


def hooks(changeset):
    """The Helm hooks of the desired state (the result key `hooks`), in Helm's order: whether this
    sync runs them (`run`, with the stages) or not (`skip`), and why."""
    chosen = [e for e in changeset.desired() if isinstance(e.life, lifecycle.Hook)]
    chosen.sort(key=lifecycle.helm_order)
    return [{"ref": str(e.ref), "source": e.source, "action": e.action, "stages": list(e.stages),
             "hook": ",".join(e.life.phases), "weight": e.life.weight, "reason": e.reason} for e in chosen]


def refs_of(changeset, action):
    """The refs of the entries with `action`, in the order the run applies them (prune: reversed)."""
    chosen = changeset.by_action(action)
    key = (lambda e: order.prune_key(e.order)) if action == PRUNE else (lambda e: e.order)
    return [str(e.ref) for e in sorted(chosen, key=key)]


# ------------------------------------------------------------------ k8s_reconcile

def reconcile_result(cs, set_name, inventory_namespace, revision, refs, abandoned, list_unchanged=False):
    created, updated, adopted, recreated, pruned = (refs_of(cs, a) for a in (CREATE, UPDATE, ADOPT, RECREATE, PRUNE))
    hooks_listed = hooks(cs)
    return dict(
        changed=bool(created or updated or adopted or recreated or pruned or cs.by_action(RUN)),
        created=created, updated=updated, adopted=adopted, recreated=recreated, pruned=pruned,
        hooks=hooks_listed,
        skipped_objects=skipped(cs),
        unchanged=len(cs.by_action(UNCHANGED)),
        objects=[entry_result(e) for e in cs.entries
                 if (list_unchanged or e.action != UNCHANGED) and not isinstance(e.life, lifecycle.Hook)],
        inventory={"name": vocab.set_object_name(set_name), "namespace": inventory_namespace,
                   "revision": revision, "objects": len(refs), "abandoned": len(abandoned)},
    )


DIFF_ACTIONS = (CREATE, UPDATE, ADOPT, RECREATE, PRUNE)  # the entries --diff shows


def _yaml(obj, secrets):
    if obj is None:
        return ""
    import yaml
    text = yaml.safe_dump(sanitize.mask_secret(compare.strip_server_fields(obj)), sort_keys=True,
                          default_flow_style=False)
    return sanitize.mask(text, secrets) if secrets else text


def ansible_diff(entry, response=None):
    """Ansible's before/after for one entry: live vs what the dry-run or apply returned (`response`,
    else the body); Secret values hidden, server-owned metadata stripped.  Each side hides its own
    decrypted fields, and both sides are also masked of every secret value the other names: a field
    newly encrypted in Git is named only by the desired object, yet its live value may be that secret."""
    after = None if entry.action == PRUNE else (response or entry.body)
    secrets = sanitize.secret_values(entry.body) | sanitize.secret_values(entry.live)
    return {"before_header": "%s (live)" % (entry.ref,), "after_header": "%s (%s)" % (entry.ref, entry.action),
            "before": _yaml(entry.live, secrets), "after": _yaml(after, secrets)}


# ------------------------------------------------------------------ drift_check

def drift_object(entry, status, our_manager):
    """entry_result plus the drift status and, for each drifted field, who changed it."""
    out = dict(entry_result(entry), status=status, changed_by=[])
    if status != MODIFIED:
        return out
    seen = set()
    for d, shown in zip(entry.diffs, out["diffs"]):
        shown["changed_by"] = managedfields.changed_by(entry.live, d.path, our_manager,
                                                       declared=d.desired is not compare.ABSENT)
        for c in shown["changed_by"]:
            key = (c["manager"], c["operation"], c.get("subresource"), c.get("time"))
            if key not in seen:
                seen.add(key)
                out["changed_by"].append({k: c.get(k) for k in ("manager", "operation", "subresource", "time")})
    return out


def drift_result(reported, our_manager, list_in_sync, revision):
    """(result, every object) of a drift check; `reported` are the (entry, status) pairs counted.
    The result lists the drifted objects only unless `list_in_sync`; reports list every one."""
    summary = dict.fromkeys((IN_SYNC,) + DRIFT_STATUSES, 0)
    for _e, status in reported:
        summary[status] += 1
    summary["total"] = len(reported)
    every = [drift_object(e, status, our_manager) for e, status in reported]
    result = {
        "drift": any(summary[s] for s in DRIFT_STATUSES),
        "summary": summary,
        # in-sync objects only on request: at 1,000 objects a full list cost Ansible ~0.3 s to carry
        "objects": every if list_in_sync else [o for o in every if o["status"] != IN_SYNC],
        "revision": revision,
    }
    return result, every


def short(value):
    """A value as one short line ("(absent)" for none)."""
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 3] + "..."


def who(changed_by):
    """kubectl (Update via scale), kubectl-edit (Update at 2026-11-26T10:02:00Z), ..."""
    parts = []
    for c in changed_by or []:
        detail = c.get("operation") or ""
        if c.get("subresource"):
            detail += " via %s" % c["subresource"]
        if c.get("time"):
            detail += " at %s" % c["time"]
        if c.get("note"):
            detail += "; %s" % c["note"]
        parts.append("%s (%s)" % (c.get("manager"), detail))
    return ", ".join(parts) or "unknown"


def field_line(d):
    """One drifted field of an `objects` entry: `path: Git -> live` (or its note)."""
    if d.get("note"):
        return "%s: %s" % (d["path"], d["note"])
    return "%s: %s -> %s" % (d["path"], short(d.get("desired")), short(d.get("live")))


def failure_message(result):
    """drift_check's message when it fails on drift: counts, then each drifted object and field."""
    lines = []
    for obj in (o for o in result["objects"] if o["status"] != IN_SYNC):
        if obj["status"] == MODIFIED:
            fields = vocab.listing(["%s (changed by %s)" % (field_line(d), who(d.get("changed_by")))
                                    for d in obj["diffs"]], FAIL_FIELDS, "; ")
            lines.append("%s: %s" % (obj["ref"], fields))
        else:
            lines.append("%s: %s" % (obj["ref"], obj["status"]))
    s = result["summary"]
    return ("drift detected: %d modified, %d missing, %d orphaned of %d objects\n%s"
            % (s[MODIFIED], s[MISSING], s[ORPHANED], s["total"], vocab.listing(lines, FAIL_OBJECTS)))
