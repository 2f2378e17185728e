# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live drift from watch events, without a desired state: what the event source k8s_drift decides.

gitops.core applies with server-side apply as one field manager, so the API server itself records
which fields a set declared: the manager's Apply entry in each object's managedFields.  A field that
leaves that entry because another manager changed it (kubectl edit, scale, a controller fighting
Git) is drift; so is an object of a set deleted, and an object carrying a set's label that the set
never applied.  Status writes, our own applies, and a field Git itself dropped (it leaves our entry
with nobody else owning it, and we wrote last) are not.  Changes carry field paths and managers,
never values."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common.paths import dotted
from ansible_collections.gitops.core.plugins.module_utils.observe import managedfields
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import SET_LABEL

MODIFIED, DELETED, UNRECORDED, STARTUP = "modified", "deleted", "unrecorded", "startup"

# One drift of one object: set name, ObjectRef, one of the kinds above, managers and field paths (sorted).
Change = namedtuple("Change", "set ref change managers fields")


def set_of(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(SET_LABEL)


def _last_writer(obj):
    writes = [e for e in managedfields.entries(obj) if e.get("time") and e.get("subresource") != "status"]
    return max(writes, key=lambda e: e["time"]).get("manager") if writes else None


def _declared(paths, obj):
    """Our paths as the stored object has them: a Secret's stringData.KEY is stored as data.KEY."""
    if obj.get("kind") != "Secret":
        return set(paths)
    return set(paths) | set(("data",) + p[1:] for p in paths if p[:1] == ("stringData",))


def snapshot(obj, manager):
    """(our Apply entry's paths, {(manager, operation, subresource): (time, paths)} of the others),
    status writes left out: what the next event of the object is compared with."""
    others = {}
    for entry in managedfields.entries(obj):
        if entry.get("manager") == manager or entry.get("subresource") == "status":
            continue
        key = (entry.get("manager"), entry.get("operation"), entry.get("subresource"))
        others[key] = (entry.get("time"), managedfields.owned_paths(entry.get("fieldsV1")))
    return managedfields.owned_by(obj, manager), others


def drifted_fields(before, obj, manager):
    """(fields, managers) of the drift between the snapshot `before` and `obj`: paths that left our
    Apply entry for another manager (a path nobody owns now counts only when another manager wrote
    last: Git dropping a field is our own write), and paths we declared that another manager's
    entry wrote since (a Secret's data.KEY for our stringData.KEY: the API server keeps both)."""
    ours_before, others_before = before
    ours, others = snapshot(obj, manager)
    fields, managers = set(), set()
    someone_else_last = _last_writer(obj) not in (None, manager)
    for path in ours_before - ours:
        if not path or path[0] == "status":
            continue
        owners = [m["manager"] for m in managedfields.managers_of(obj, path) if m["manager"] != manager]
        if owners or someone_else_last:
            fields.add(dotted(path))
            managers |= set(owners) or {_last_writer(obj)}
    declared = _declared(ours_before | ours, obj)
    for key, (when, paths) in others.items():
        if others_before.get(key, (None,))[0] == when:
            continue  # this entry did not write since
        for path in paths & declared:
            fields.add(dotted(path))
            managers.add(key[0])
    return sorted(fields), sorted(m for m in managers if m)


def declared_now(obj, manager):
    """The paths gitops.core holds now: its Apply entry's, and the declared paths (a Secret's
    stringData.KEY as data.KEY) that another manager wrote before gitops.core's last apply (a heal
    since then settled them)."""
    ours, others = snapshot(obj, manager)
    times = [e.get("time") for e in managedfields.entries(obj)
             if e.get("manager") == manager and e.get("operation") == "Apply" and e.get("time")]
    held = set(ours)
    last_apply = max(times) if times else None
    for when, paths in others.values():
        if last_apply and when and when <= last_apply:
            held |= paths & _declared(ours, obj)
    return held


class Tracker(object):
    """What the watches saw of the objects of some sets: each object's Apply entry of our manager,
    and each set's inventory (the refs it recorded).  `observe` answers a Change or None."""

    def __init__(self, sets, manager):
        self.sets = set(sets)
        self.manager = manager
        self.owned = {}      # object key -> (its set, snapshot() as last seen)
        self.recorded = {}   # set name -> {object key}

    def record_inventory(self, set_name, refs):
        self.recorded[set_name] = set(ref.key for ref in refs)

    def is_recorded(self, set_name, ref):
        return ref.key in self.recorded.get(set_name, ())

    def observe(self, event_type, obj, listed=False):
        """One watch event (ADDED, MODIFIED, DELETED) or, with `listed`, one object of a (re)list."""
        set_name = set_of(obj)
        if set_name not in self.sets:
            return None
        ref = ObjectRef.from_object(obj)
        before = self.owned.get(ref.key, (None, None))[1]
        if event_type == "DELETED":
            self.owned.pop(ref.key, None)
            if before is not None or self.is_recorded(set_name, ref):
                return Change(set_name, ref, DELETED, [], [])
            return None
        now = snapshot(obj, self.manager)
        self.owned[ref.key] = (set_name, now)
        if before is None:
            if listed or now[0] or self.is_recorded(set_name, ref):
                return None  # first sight of an object the set applied (or a listing at start)
            writers = sorted(set(e.get("manager") for e in managedfields.entries(obj) if e.get("manager")))
            return Change(set_name, ref, UNRECORDED, writers, [])
        fields, managers = drifted_fields(before, obj, self.manager)
        return Change(set_name, ref, MODIFIED, managers, fields) if fields else None

    def forget(self, group, kind):
        """Drop what was seen of the objects of one kind (its watch stopped: no inventory records it
        any more); a later watch of the kind starts from its list, as at start."""
        for key in [k for k in self.owned if (k[0], k[1]) == (group, kind)]:
            del self.owned[key]

    def relisted(self, res, namespace, listed):
        """The deletions a relist of resource `res` (in `namespace`, or everywhere) shows: the objects
        seen before that it no longer lists (`listed`: the keys it did), gone while the watch was away."""
        changes = []
        for key, (set_name, _snapshot) in list(self.owned.items()):
            group, kind, obj_namespace, name = key
            if (group, kind) == (res.group, res.kind) and namespace in (None, obj_namespace) and key not in listed:
                del self.owned[key]
                changes.append(Change(set_name, ObjectRef(group, res.version, kind, obj_namespace, name), DELETED, [], []))
        return changes


def still_drift(change, manager, live=None, recorded=None):
    """What is left of `change` once a gitops.core run may have settled it (None: nothing): a
    deletion the set's inventory no longer records (`recorded`: its object keys) was a prune; fields
    gitops.core holds again in the `live` object (declared_now) were healed.  A modification of an
    object that is gone, and the other kinds of change, stay as they are."""
    if change.change == DELETED:
        return change if change.ref.key in (recorded or ()) else None
    if change.change == MODIFIED and live is not None:
        ours = set(dotted(p) for p in declared_now(live, manager))
        fields = [f for f in change.fields if f not in ours]
        return change._replace(fields=fields) if fields else None
    return change


def merge(first, second):
    """Two changes of one object in one debounce window, as one (the later kind wins; a deletion
    stays a deletion)."""
    change = DELETED if DELETED in (first.change, second.change) else second.change
    return Change(first.set, first.ref, change, sorted(set(first.managers) | set(second.managers)),
                  sorted(set(first.fields) | set(second.fields)))


def event(change, lease_expired=None):
    """The event k8s_drift puts on the queue: names only, never a value.  `lease_expired`: the
    resourceVersion of the set's Lease that the agent judged expired (a killed run left it), for the
    heal run's lock_expired_version."""
    ref = change.ref
    out = {"gitops": {
        "set": change.set, "change": change.change, "ref": str(ref) if ref else None,
        "object": ({"group": ref.group, "version": ref.version, "kind": ref.kind, "namespace": ref.namespace,
                    "name": ref.name} if ref else None),
        "managers": list(change.managers), "fields": list(change.fields)}}
    if lease_expired:
        out["gitops"]["lease_expired"] = lease_expired
    return out
