# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan verb: desired objects against live objects and the inventory, as a ChangeSet.
drift_check reports it; k8s_reconcile closes it with writes.

Cost: one LIST per kind of the desired set and the inventory, filtered by the set label (per
namespace only where the credentials cannot list cluster-wide), plus the inventory read.  Desired
or recorded objects not found that way (a first apply, an adoption, a label removed by hand) are looked up
without a request per object: nothing inside a Namespace that does not exist yet, one LIST per kind
and namespace holding two or more of them, a GET for a lone one.  A live object that carries no set
label costs one LIST of the other sets' inventories (ownership)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils import compare, inventory, order, ownership
from ansible_collections.gitops.core.plugins.module_utils.changeset import (
    ABANDON, CREATE, PRUNE, SKIP, UNCHANGED, UPDATE, ChangeSet, Entry)
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.kube import ApiError, Resource
from ansible_collections.gitops.core.plugins.module_utils.objref import ObjectRef, annotation, set_label

SET_LABEL = compare.SET_LABEL
REVISION_ANNOTATION = compare.REVISION_ANNOTATION
PRUNE_ANNOTATION = "gitops.core/prune"
RECONCILE_ANNOTATION = "gitops.core/reconcile"


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


def _check_metadata(obj, where):
    """Refuse metadata that is not what Kubernetes accepts; drop null labels/annotations (kubectl
    accepts `annotations: null` as 'none')."""
    meta = obj["metadata"]
    for field in ("labels", "annotations"):
        if field in meta and meta[field] is None:
            del meta[field]
        elif field in meta and (not isinstance(meta[field], dict)
                                or not all(isinstance(k, str) for k in meta[field])):
            raise GitOpsError("%s: metadata.%s must be a mapping of strings" % (where, field))
        elif field in meta:
            bad = [k for k, v in meta[field].items() if not isinstance(v, str)]
            if bad:
                raise GitOpsError("%s: metadata.%s.%s must be a string (quote it in YAML)" % (where, field, bad[0]))


def resolve_desired(client, objects, sources, set_name, default_namespace, revision):
    """Entries (action not decided yet) for the desired objects: resource found, namespace
    defaulted, body = desired + set label + revision annotation.  Unknown kinds and malformed
    objects are refused here, before any request that writes."""
    pending_crds = _crd_resources(objects)
    entries, seen = [], {}
    for index, obj in enumerate(objects):
        where = _source(sources, index)
        label = "objects[%d]%s" % (index, " (%s)" % where if where else "")
        if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion") \
                or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            raise GitOpsError("%s: each object needs apiVersion, kind and metadata.name" % label)
        body = compare.strip_server_fields(obj)  # else as written (a Secret's stringData stays stringData)
        _check_metadata(body, label)
        ref = ObjectRef.from_object(body)
        res = client.resource(ref.group, ref.version, ref.kind)
        if res is None:
            res_pending = pending_crds.get((ref.group, ref.kind, ref.version))
            if res_pending is None:
                raise GitOpsError("%s%s: the cluster does not serve %s %s, and no CustomResourceDefinition in "
                                  "the set defines it" % (ref, " (%s)" % where if where else "",
                                                          ref.api_version, ref.kind))
        namespaced = res.namespaced if res else res_pending.namespaced
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


def _list_live(engine, resources, namespaces):
    """{ObjectRef.key: live object} of every object carrying the set label, one LIST per resource
    (per namespace where a cluster-wide LIST is forbidden)."""
    client = engine.client
    selector = "%s=%s" % (SET_LABEL, engine.opts.set_name)

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
    for items in engine.map(one, resources):
        for obj in items:
            live[ObjectRef.from_object(obj).key] = obj
    return live


def _look_up(engine, entries):
    """{key: live object} of those of `entries` that exist: one LIST (paged, keeping only the wanted
    names) per kind and namespace holding two or more of them, a GET for a lone one or where listing
    is forbidden."""
    client = engine.client
    groups = {}
    for e in entries:
        res = e.resource
        groups.setdefault((res.group, res.version, res.plural, e.ref.namespace), []).append(e)

    def one(group):
        first = group[0]
        if len(group) > 1:
            wanted = {e.ref.name for e in group}
            try:
                items = client.list(first.resource, namespace=first.ref.namespace,
                                    keep=lambda item: (item.get("metadata") or {}).get("name") in wanted)
                by_name = {item["metadata"]["name"]: item for item in items}
                return [(e, by_name.get(e.ref.name)) for e in group]
            except ApiError as exc:
                if exc.status != 403:
                    raise
        return [(e, client.get(e.resource, e.ref.namespace, e.ref.name)) for e in group]

    found = {}
    for pairs in engine.map(one, list(groups.values())):
        for e, obj in pairs:
            if obj is not None:
                found[e.ref.key] = obj
    return found


def _find_unlabelled(engine, missing):
    """{key: live object} of desired objects the set-label LISTs did not find.  Namespaces first:
    an object inside a Namespace that does not exist cannot exist either, so a first apply of a set
    that declares its namespaces looks up nothing more."""
    is_namespace = [e.ref.kind == "Namespace" and e.ref.group == "" for e in missing]
    namespaces = [e for e, yes in zip(missing, is_namespace) if yes]
    found = _look_up(engine, namespaces)
    absent = {e.ref.name for e in namespaces if e.ref.key not in found}
    found.update(_look_up(engine, [e for e, yes in zip(missing, is_namespace)
                                   if not yes and e.ref.namespace not in absent]))
    return found


def _decide_desired(e, manager, revision):
    if annotation(e.body, RECONCILE_ANNOTATION) == "disabled":
        e.action, e.reason = SKIP, "annotation %s: disabled in Git" % RECONCILE_ANNOTATION
        return
    if annotation(e.live, RECONCILE_ANNOTATION) == "disabled":
        e.action, e.reason = SKIP, "annotation %s: disabled on the live object" % RECONCILE_ANNOTATION
        return
    if e.live is None:
        e.action = CREATE
        return
    live_revision = annotation(e.live, REVISION_ANNOTATION)
    if not revision and live_revision and annotation(e.body, REVISION_ANNOTATION) is None:
        # No revision given (a drift check, a heal): keep the one the object was applied from,
        # which server-side apply would otherwise remove from a field our manager owns.
        e.body["metadata"]["annotations"] = dict(e.body["metadata"].get("annotations") or {},
                                                 **{REVISION_ANNOTATION: live_revision})
    e.diffs = compare.diff(e.body, e.live, manager)
    e.owned = any(m.get("manager") == manager and m.get("operation") == "Apply"
                  for m in (e.live.get("metadata") or {}).get("managedFields") or [])
    e.action = UPDATE if e.diffs or not e.owned else UNCHANGED
    if not e.diffs and not e.owned:
        e.reason = "not yet applied by field manager %s" % manager


def _decide_leaver(e, set_name, prune):
    """The action for an object that left the set (e.live set, e.body None)."""
    label = set_label(e.live)
    if label != set_name:
        e.action = SKIP
        e.reason = "left the set, but its %s label is %r, not %r" % (SET_LABEL, label, set_name)
    elif annotation(e.live, RECONCILE_ANNOTATION) == "disabled":
        e.action, e.reason = SKIP, "left the set; annotation %s: disabled" % RECONCILE_ANNOTATION
    elif annotation(e.live, PRUNE_ANNOTATION) == "disabled":
        e.action, e.reason = ABANDON, "left the set; annotation %s: disabled" % PRUNE_ANNOTATION
    elif not prune:
        e.action, e.reason = ABANDON, "left the set; prune is false"
    else:
        e.action, e.reason = PRUNE, "no longer declared in Git"


def build(engine, objects, sources=None):
    """The ChangeSet: entries with action create/update/adopt/unchanged/skip for desired objects
    and prune/abandon/skip for objects that left the set.  Raises GitOpsError, before any write,
    when a desired object belongs to another set and the run may not adopt it."""
    client, opts = engine.client, engine.opts
    entries = resolve_desired(client, objects, sources, opts.set_name, opts.namespace, opts.revision)
    record = inventory.read(client, opts.inventory_namespace, opts.set_name)

    resources, namespaces = {}, set()
    for e in entries:
        if e.resource is not None:
            resources[(e.resource.group, e.resource.version, e.resource.plural)] = e.resource
        if e.ref.namespace:
            namespaces.add(e.ref.namespace)
    inv_resources = {}
    for ref in record.refs:
        res = client.resource(ref.group, ref.version, ref.kind, refresh_on_miss=False)
        if res is not None:
            inv_resources[ref.key] = res
            resources.setdefault((res.group, res.version, res.plural), res)
            if ref.namespace:
                namespaces.add(ref.namespace)
    live = _list_live(engine, list(resources.values()), namespaces)

    # Desired objects not found by label: first apply, adoption, or a label removed live.
    live.update(_find_unlabelled(engine, [e for e in entries if e.ref.key not in live and e.resource is not None]))

    for e in entries:
        e.live = live.get(e.ref.key)
        _decide_desired(e, opts.field_manager, opts.revision)
    ownership.resolve(engine, entries, record)

    # Objects that left the set: in the inventory, or carrying the set label, but not desired.
    desired_keys = {e.ref.key for e in entries}
    orphans = {}
    for key, obj in live.items():
        if key not in desired_keys:
            orphans[key] = (ObjectRef.from_object(obj), obj)
    gone = [Entry(ref, resource=inv_resources[ref.key]) for ref in record.refs
            if ref.key not in desired_keys and ref.key not in orphans and ref.key in inv_resources]
    recorded = {e.ref.key: e.ref for e in gone}
    for key, obj in _look_up(engine, gone).items():  # recorded but not labelled: looked up like the desired
        orphans[key] = (recorded[key], obj)
    for key, (ref, obj) in sorted(orphans.items()):
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue  # already being deleted
        res = inv_resources.get(key) or client.resource(ref.group, ref.version, ref.kind, refresh_on_miss=False)
        entry = Entry(ref, live=obj, resource=res)
        _decide_leaver(entry, opts.set_name, opts.prune)
        entries.append(entry)
    return ChangeSet(entries, record)
