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

from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.engine import inventory, lifecycle, order, ownership, policy
from ansible_collections.gitops.core.plugins.module_utils.observe import compare
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import (
    ABANDON, CREATE, PRUNE, RECREATE, RUN, SKIP, UNCHANGED, UPDATE, ChangeSet, Entry)
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import ApiError, Resource
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef, annotation, set_label
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (
    DISABLED, PRUNE_ANNOTATION, RECONCILE_ANNOTATION, REVISION_ANNOTATION, SET_LABEL)

# A desired object once resolved: its ref, what would be applied (desired + set label + revision),
# its Resource (None while its CRD is not served yet), its source, its apply order, and its
# lifecycle (a lifecycle.Hook or RunOnce, or None).
Desired = namedtuple("Desired", "ref body resource source order life")


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


def resolve_desired(discovery, objects, sources, set_name, default_namespace, revision):
    """The Desired objects: resource found, namespace defaulted, body = desired + set label +
    revision annotation.  Unknown kinds and malformed objects are refused here, before any
    request that writes."""
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
        res = discovery.resource(ref.group, ref.version, ref.kind)
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
        key = order.apply_key(ref, body, where=where)  # refuses a bad wave annotation now
        if ref.key in seen:
            raise GitOpsError("%s is declared twice: %s and %s" % (ref, seen[ref.key], where or "objects[%d]" % index))
        seen[ref.key] = where or "objects[%d]" % index
        life = lifecycle.hook_of(body, ref, where or str(ref)) or lifecycle.run_once_of(body, ref)
        entries.append(Desired(ref, body, res, where, key, life))
    return entries


def _inventory(engine):
    """The set's inventory Record: from the run's grouped reads when it has them (one LIST of the
    inventories of its sets), else (or where that LIST is forbidden) one GET."""
    opts = engine.opts
    if engine.reads is not None:
        try:
            return inventory.parse(engine.reads.inventory(opts.inventory_namespace, opts.set_name))
        except ApiError as exc:
            if exc.status != 403:
                raise
    return inventory.read(engine.client, opts.inventory_namespace, opts.set_name)


def _list_live(engine, resources, namespaces):
    """{ObjectRef.key: live object} of every object carrying the set label, one LIST per resource;
    where a cluster-wide LIST is forbidden (a tenant), one LIST per namespace in which the set
    declares or recorded objects of that resource (`namespaces`: resource -> namespaces), all on
    the engine's pool."""
    client = engine.client
    selector = "%s=%s" % (SET_LABEL, engine.opts.set_name)

    def cluster_wide(res):
        try:
            if engine.reads is not None:  # one LIST for every set of the run (reads.py)
                return engine.reads.objects(res, engine.opts.set_name)
            return client.list(res, label_selector=selector)
        except ApiError as exc:
            if exc.status != 403 or not res.namespaced:
                raise
            return None  # forbidden: per namespace below

    found = engine.map(cluster_wide, resources)
    per_namespace = [(res, ns) for res, items in zip(resources, found) if items is None
                     for ns in sorted(namespaces.get(res, ()))]
    found += engine.map(lambda pair: client.list(pair[0], namespace=pair[1], label_selector=selector), per_namespace)
    live = {}
    for items in found:
        for obj in items or ():
            live[ObjectRef.from_object(obj).key] = obj
    return live


def _look_up(engine, wanted):
    """{key: live object} of those of `wanted` ((ref, Resource) pairs) that exist: one LIST (paged,
    keeping only the wanted names) per kind and namespace holding two or more of them, a GET for a
    lone one or where listing is forbidden."""
    client = engine.client
    groups = {}
    for ref, res in wanted:
        groups.setdefault((res.group, res.version, res.plural, ref.namespace), []).append((ref, res))

    def one(group):
        first, res = group[0]
        if len(group) > 1:
            names = {ref.name for ref, _res in group}
            try:
                items = client.list(res, namespace=first.namespace,
                                    keep=lambda item: (item.get("metadata") or {}).get("name") in names)
                by_name = {item["metadata"]["name"]: item for item in items}
                return [(ref, by_name.get(ref.name)) for ref, _res in group]
            except ApiError as exc:
                if exc.status != 403:
                    raise
        return [(ref, client.get(res, ref.namespace, ref.name)) for ref, _res in group]

    found = {}
    for pairs in engine.map(one, list(groups.values())):
        for ref, obj in pairs:
            if obj is not None:
                found[ref.key] = obj
    return found


def _find_unlabelled(engine, missing):
    """{key: live object} of desired objects the set-label LISTs did not find.  Namespaces first:
    an object inside a Namespace that does not exist cannot exist either, so a first apply of a set
    that declares its namespaces looks up nothing more."""
    is_namespace = [ref.kind == "Namespace" and ref.group == "" for ref, _res in missing]
    namespaces = [pair for pair, yes in zip(missing, is_namespace) if yes]
    found = _look_up(engine, namespaces)
    absent = {ref.name for ref, _res in namespaces if ref.key not in found}
    found.update(_look_up(engine, [(ref, res) for (ref, res), yes in zip(missing, is_namespace)
                                   if not yes and ref.namespace not in absent]))
    return found


def skip_reason(body, live):
    """Why a desired object is left alone (`gitops.core/reconcile: disabled`), or None."""
    if annotation(body, RECONCILE_ANNOTATION) == DISABLED:
        return "annotation %s: %s in Git" % (RECONCILE_ANNOTATION, DISABLED)
    if annotation(live, RECONCILE_ANNOTATION) == DISABLED:
        return "annotation %s: %s on the live object" % (RECONCILE_ANNOTATION, DISABLED)
    return None


def decide_desired(d, live, opts, takeover=None, ran=None):
    """The Entry of a desired object, its action decided from every fact at once: the reconcile
    annotation, its lifecycle and what ran before (`ran`, from the inventory), the live object
    (diffs after the ignore rules, whether our field manager applied it), and `takeover`, the
    (action, reason) ownership decided for an object of another set or of none."""
    why = skip_reason(d.body, live)
    base = dict(body=d.body, live=live, resource=d.resource, source=d.source, order=d.order, life=d.life)
    if why:
        return Entry(d.ref, SKIP, reason=why, **base)
    ran = ran or {}
    if isinstance(d.life, lifecycle.Hook):  # never compared with the live object: it runs, or not
        stages, why = lifecycle.hook_stages(d.life, ran)
        return Entry(d.ref, RUN if stages else SKIP, reason=why, stages=stages, **base)
    once = d.life if isinstance(d.life, lifecycle.RunOnce) else None
    if once and live is None and ran.get(once.key) == once.digest:
        return Entry(d.ref, SKIP, reason="run once: it ran for this content and is gone; it runs again when its "
                                         "content changes in Git", **base)
    if live is None:
        return Entry(d.ref, CREATE, **base)
    body, manager = d.body, opts.field_manager
    live_revision = annotation(live, REVISION_ANNOTATION)
    if not opts.revision and live_revision and annotation(body, REVISION_ANNOTATION) is None:
        # No revision given (a drift check, a heal): keep the one the object was applied from,
        # which server-side apply would otherwise remove from a field our manager owns.
        body["metadata"]["annotations"] = dict(body["metadata"].get("annotations") or {},
                                               **{REVISION_ANNOTATION: live_revision})
    diffs = compare.diff(body, live, manager)
    if opts.ignore is not None:
        diffs = [df for df in diffs if not opts.ignore.ignores(d.ref, live, df.path)]
    owned = any(m.get("manager") == manager and m.get("operation") == "Apply"
                for m in (live.get("metadata") or {}).get("managedFields") or [])
    base.update(diffs=tuple(diffs), owned=owned)
    if once and diffs and ran.get(once.key) != once.digest:
        return Entry(d.ref, RECREATE, reason="run once: its content changed in Git", **base)
    if takeover is not None:
        action, reason = takeover
        cleanup = tuple(lifecycle.deploy_tool_entries(live, opts.takeover_managers))
        if cleanup:
            base["cleanup"] = cleanup
            reason = "%s; takes over fields from %s" % (reason, ", ".join(cleanup))
        if action == UPDATE and not diffs and not opts.count_unowned:
            return Entry(d.ref, UNCHANGED, **base)
        return Entry(d.ref, action, reason=reason, **base)
    if diffs:
        return Entry(d.ref, UPDATE, **base)
    if not owned and opts.count_unowned:
        return Entry(d.ref, UPDATE, reason="not yet applied by field manager %s" % manager, **base)
    return Entry(d.ref, UNCHANGED, **base)


def decide_leaver(ref, live, resource, set_name, prune, rules=None):
    """The Entry of an object that left the set (live, no longer desired).  One the set's policy
    (`rules`) now forbids is left in place, never pruned by a set that may not own it."""
    label = set_label(live)
    base = dict(live=live, resource=resource, order=order.apply_key(ref, live, strict=False))
    if label != set_name:
        return Entry(ref, SKIP, reason="left the set, but its %s label is %r, not %r" % (SET_LABEL, label, set_name),
                     **base)
    if annotation(live, RECONCILE_ANNOTATION) == DISABLED:
        return Entry(ref, SKIP, reason="left the set; annotation %s: %s" % (RECONCILE_ANNOTATION, DISABLED), **base)
    if annotation(live, PRUNE_ANNOTATION) == DISABLED:
        return Entry(ref, ABANDON, reason="left the set; annotation %s: %s" % (PRUNE_ANNOTATION, DISABLED), **base)
    if not prune:
        return Entry(ref, ABANDON, reason="left the set; prune is false", **base)
    outside = policy.violation(rules, ref)
    if outside:
        return Entry(ref, ABANDON, reason="left the set, but not pruned: %s; delete it by hand or widen the policy"
                     % outside, **base)
    return Entry(ref, PRUNE, reason="no longer declared in Git", **base)


def build(engine, objects, sources=None):
    """The ChangeSet: entries with action create/update/adopt/unchanged/skip for desired objects
    and prune/abandon/skip for objects that left the set.  Raises GitOpsError, before any write,
    when a desired object belongs to another set and the run may not adopt it."""
    client, discovery, opts = engine.client, engine.discovery, engine.opts
    desired = resolve_desired(discovery, objects, sources, opts.set_name, opts.namespace, opts.revision)
    policy.check_desired(opts.policy, opts.set_name, desired)  # before any request about the objects
    record = _inventory(engine)

    resources, namespaces = {}, {}  # (group, version, plural) -> Resource; Resource -> its namespaces
    for d in desired:
        if d.resource is not None:
            res = resources.setdefault((d.resource.group, d.resource.version, d.resource.plural), d.resource)
            if d.ref.namespace:
                namespaces.setdefault(res, set()).add(d.ref.namespace)
    inv_resources = {}
    for ref in record.refs:
        res = discovery.resource(ref.group, ref.version, ref.kind, refresh_on_miss=False)
        if res is not None:
            res = resources.setdefault((res.group, res.version, res.plural), res)
            inv_resources[ref.key] = res
            if ref.namespace:
                namespaces.setdefault(res, set()).add(ref.namespace)
    live = _list_live(engine, list(resources.values()), namespaces)

    # Desired objects not found by label: first apply, adoption, or a label removed live.
    live.update(_find_unlabelled(engine, [(d.ref, d.resource) for d in desired
                                          if d.ref.key not in live and d.resource is not None]))

    takeovers = ownership.takeovers(engine, [(d, live[d.ref.key]) for d in desired if d.ref.key in live
                                             and not skip_reason(d.body, live[d.ref.key])
                                             and not isinstance(d.life, lifecycle.Hook)], record)
    entries = [decide_desired(d, live.get(d.ref.key), opts, takeovers.get(d.ref.key), record.ran) for d in desired]

    # Objects that left the set: in the inventory, or carrying the set label, but not desired.
    desired_keys = {d.ref.key for d in desired}
    orphans = {}
    for key, obj in live.items():
        if key not in desired_keys:
            orphans[key] = (ObjectRef.from_object(obj), obj)
    gone = [(ref, inv_resources[ref.key]) for ref in record.refs
            if ref.key not in desired_keys and ref.key not in orphans and ref.key in inv_resources]
    recorded = {ref.key: ref for ref, _res in gone}
    for key, obj in _look_up(engine, gone).items():  # recorded but not labelled: looked up like the desired
        orphans[key] = (recorded[key], obj)
    for key, (ref, obj) in sorted(orphans.items()):
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue  # already being deleted
        res = inv_resources.get(key) or discovery.resource(ref.group, ref.version, ref.kind, refresh_on_miss=False)
        entries.append(decide_leaver(ref, obj, res, opts.set_name, opts.prune, opts.policy))
    return ChangeSet(entries, record)
