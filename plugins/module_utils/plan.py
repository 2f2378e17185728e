# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan: desired objects against live objects and the inventory.  drift_check reports a plan;
k8s_reconcile is a plan followed by the writes that close it.

Cost: one LIST per kind of the desired set and the inventory, filtered by the set label (per
namespace only where the credentials cannot list cluster-wide), plus the inventory read; objects
not found that way (first apply, adoption, a removed label) cost one GET each."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.gitops.core.plugins.module_utils import compare, inventory, order
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.kube import ApiError, Resource
from ansible_collections.gitops.core.plugins.module_utils.objref import ObjectRef

SET_LABEL = compare.SET_LABEL
REVISION_ANNOTATION = compare.REVISION_ANNOTATION
PRUNE_ANNOTATION = "gitops.core/prune"
RECONCILE_ANNOTATION = "gitops.core/reconcile"

CREATE, UPDATE, UNCHANGED, PRUNE, SKIP = "create", "update", "unchanged", "prune", "skip"


class Entry(object):
    """One object of the plan."""

    def __init__(self, ref, action, body=None, live=None, resource=None, source=None, reason=None, diffs=None):
        self.ref = ref
        self.action = action
        self.body = body          # what would be applied (desired + set label + revision)
        self.live = live          # the live object, or None
        self.resource = resource  # kube.Resource, or None while its CRD is not served yet
        self.source = source      # "file, document N" when known
        self.reason = reason      # why skipped or pruned
        self.diffs = diffs or []  # compare.Diff list (create: empty)
        self.result = None        # the dry-run or apply result

    @property
    def where(self):
        return "%s (%s)" % (self.ref, self.source) if self.source else str(self.ref)


def _annotation(obj, name):
    return ((obj or {}).get("metadata") or {}).get("annotations", {}).get(name) if obj else None


def _crd_resources(objects):
    """Resources that CustomResourceDefinitions of the desired set will serve."""
    out = {}
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        for ver in spec.get("versions") or []:
            if ver.get("served", True):
                out[(spec.get("group"), names.get("kind"), ver.get("name"))] = Resource(
                    spec.get("group"), ver.get("name"), names.get("kind"), names.get("plural"),
                    spec.get("scope") == "Namespaced", ())
    return out


def _source(sources, index):
    if sources and index < len(sources) and sources[index]:
        src = sources[index]
        if isinstance(src, dict):
            return "%s, document %s" % (src.get("file"), src.get("document")) if src.get("file") else None
        return str(src)
    return None


def resolve_desired(client, objects, sources, set_name, default_namespace, revision):
    """Entries (action not decided yet) for the desired objects: resource found, namespace
    defaulted, body = desired + set label + revision annotation.  Unknown kinds are refused here,
    before any request that writes."""
    pending_crds = _crd_resources(objects)
    entries, seen = [], {}
    for index, obj in enumerate(objects):
        where = _source(sources, index)
        if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion") \
                or not (obj.get("metadata") or {}).get("name"):
            raise GitOpsError("objects[%d]%s: each object needs apiVersion, kind and metadata.name"
                              % (index, " (%s)" % where if where else ""))
        ref = ObjectRef.from_object(obj)
        res = client.resource(ref.group, ref.version, ref.kind)
        if res is None:
            res_pending = pending_crds.get((ref.group, ref.kind, ref.version))
            if res_pending is None:
                raise GitOpsError("%s%s: the cluster does not serve %s %s, and no CustomResourceDefinition in "
                                  "the set defines it" % (ref, " (%s)" % where if where else "",
                                                          ref.api_version, ref.kind))
        namespaced = res.namespaced if res else res_pending.namespaced
        body = compare.strip_server_fields(obj)  # else as written (a Secret's stringData stays stringData)
        meta = body["metadata"]
        if namespaced:
            meta["namespace"] = meta.get("namespace") or default_namespace
        else:
            meta.pop("namespace", None)
        meta["labels"] = dict(meta.get("labels") or {}, **{SET_LABEL: set_name})
        if revision:
            meta["annotations"] = dict(meta.get("annotations") or {}, **{REVISION_ANNOTATION: revision})
        ref = ObjectRef.from_object(body)
        order.wave(body, where or str(ref))  # refuse a bad wave annotation now
        if ref.key in seen:
            raise GitOpsError("%s is declared twice: %s and %s" % (ref, seen[ref.key], where or "objects[%d]" % index))
        seen[ref.key] = where or "objects[%d]" % index
        entries.append(Entry(ref, None, body=body, resource=res, source=where))
    return entries


def _list_live(client, resources, set_name, namespaces, parallelism):
    """{ObjectRef.key: live object} of every object carrying the set label, one LIST per resource
    (per namespace where a cluster-wide LIST is forbidden)."""
    selector = "%s=%s" % (SET_LABEL, set_name)

    def one(res):
        try:
            return client.list(res, label_selector=selector)
        except ApiError as exc:
            if exc.status != 403 or not res.namespaced:
                raise
            items = []
            for ns in sorted(namespaces):
                items.extend(client.list(res, namespace=ns, label_selector=selector))
            return items

    live = {}
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        for items in pool.map(one, resources):
            for obj in items:
                live[ObjectRef.from_object(obj).key] = obj
    return live


def build(client, objects, set_name, default_namespace="default", revision=None, sources=None,
          inventory_namespace="gitops-system", field_manager="gitops-core", parallelism=8):
    """The plan: Entries with action create/update/unchanged/skip for desired objects and
    prune/skip for objects that left the set."""
    entries = resolve_desired(client, objects, sources, set_name, default_namespace, revision)
    inv_refs, inv_cm = inventory.read(client, inventory_namespace, set_name)

    resources, namespaces = {}, set()
    for e in entries:
        if e.resource is not None:
            resources[(e.resource.group, e.resource.version, e.resource.plural)] = e.resource
        if e.ref.namespace:
            namespaces.add(e.ref.namespace)
    inv_resources = {}
    for ref in inv_refs:
        res = client.resource(ref.group, ref.version, ref.kind, refresh_on_miss=False)
        if res is not None:
            inv_resources[ref.key] = res
            resources.setdefault((res.group, res.version, res.plural), res)
            if ref.namespace:
                namespaces.add(ref.namespace)
    live = _list_live(client, list(resources.values()), set_name, namespaces, parallelism)

    # Desired objects not found by label: first apply, adoption, or a label removed live.
    missing = [e for e in entries if e.ref.key not in live and e.resource is not None]
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        for e, obj in zip(missing, pool.map(lambda e: client.get(e.resource, e.ref.namespace, e.ref.name), missing)):
            if obj is not None:
                live[e.ref.key] = obj

    for e in entries:
        e.live = live.get(e.ref.key)
        if _annotation(e.body, RECONCILE_ANNOTATION) == "disabled":
            e.action, e.reason = SKIP, "annotation %s: disabled in Git" % RECONCILE_ANNOTATION
        elif _annotation(e.live, RECONCILE_ANNOTATION) == "disabled":
            e.action, e.reason = SKIP, "annotation %s: disabled on the live object" % RECONCILE_ANNOTATION
        elif e.live is None:
            e.action = CREATE
        else:
            e.diffs = compare.diff(e.body, e.live, field_manager)
            owned = any(m.get("manager") == field_manager and m.get("operation") == "Apply"
                        for m in (e.live.get("metadata") or {}).get("managedFields") or [])
            e.action = UPDATE if e.diffs or not owned else UNCHANGED
            if not e.diffs and not owned:
                e.reason = "adopt: not yet applied by field manager %s" % field_manager

    # Objects that left the set: in the inventory, or carrying the set label, but not desired.
    desired_keys = {e.ref.key for e in entries}
    orphans = {}
    for key, obj in live.items():
        if key not in desired_keys:
            orphans[key] = (ObjectRef.from_object(obj), obj)
    gone = [ref for ref in inv_refs if ref.key not in desired_keys and ref.key not in orphans
            and ref.key in inv_resources]
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        fetched = list(pool.map(lambda r: client.get(inv_resources[r.key], r.namespace, r.name), gone))
    for ref, obj in zip(gone, fetched):
        if obj is not None:
            orphans[ref.key] = (ref, obj)
    for key, (ref, obj) in sorted(orphans.items()):
        res = inv_resources.get(key) or client.resource(ref.group, ref.version, ref.kind, refresh_on_miss=False)
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if obj.get("metadata", {}).get("deletionTimestamp"):
            continue  # already being deleted
        entry = Entry(ref, PRUNE, live=obj, resource=res)
        if labels.get(SET_LABEL) != set_name:
            entry.action = SKIP
            entry.reason = "left the set, but its %s label is %r, not %r" % (SET_LABEL, labels.get(SET_LABEL), set_name)
        elif _annotation(obj, PRUNE_ANNOTATION) == "disabled":
            entry.action, entry.reason = SKIP, "left the set; annotation %s: disabled" % PRUNE_ANNOTATION
        elif _annotation(obj, RECONCILE_ANNOTATION) == "disabled":
            entry.action, entry.reason = SKIP, "left the set; annotation %s: disabled" % RECONCILE_ANNOTATION
        else:
            entry.reason = "no longer declared in Git"
        entries.append(entry)
    return Plan(entries, inv_refs, inv_cm)


class Plan(object):
    def __init__(self, entries, inventory_refs, inventory_cm):
        self.entries = entries
        self.inventory_refs = inventory_refs
        self.inventory_cm = inventory_cm

    def by_action(self, action):
        return [e for e in self.entries if e.action == action]

    def writes(self):
        return [e for e in self.entries if e.action in (CREATE, UPDATE)]
