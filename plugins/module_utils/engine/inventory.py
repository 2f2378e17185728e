# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory of a set: ConfigMap `gitops-set-<set>` in the inventory namespace, listing every
object the set applied, with the revision and time of the run that wrote it.  It is written after a
fully successful run, so a failed run never forgets an object, and also before the first write of
a run that adds objects (the union of what it listed and what the run may create, with the old
revision), so a run that dies half-way - killed, its API server gone - leaves nothing live and
owned that the inventory does not list, and the next run can prune it.

Objects that left Git but were left in place (prune off, `gitops.core/prune: disabled`) stay in
the inventory, marked abandoned, so that drift checks keep reporting them and a later run can
still prune them even when no object of their kind is declared any more.  Entries are
`[group, version, kind, namespace, name]`, with a sixth element `"abandoned"` for those.

`ran` (data key `ran.json`) records what ran for which digest (lifecycle.py): a release's hooks
(`release <namespace>/<name>`: the digest of the rendered release whose hooks last succeeded) and
run-once objects (`once <ref>`: the digest of the content last created)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import json
import time
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS, NAMESPACES, ApiError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import INVENTORY_LABEL, MANAGED_BY, set_object_name

ABANDONED = "abandoned"
GZIP_OVER = 512 * 1024

# refs: every ObjectRef recorded; abandoned: the keys of those left in place; revision: the
# revision the last successful run recorded; configmap: the ConfigMap, or None before the first run;
# ran: {key: digest} of the hooks and run-once objects that ran.
Record = namedtuple("Record", "refs abandoned revision configmap ran")
EMPTY = Record([], frozenset(), None, None, {})


def _entries(cm):
    data = cm.get("data") or {}
    if "objects.json.gz" in (cm.get("binaryData") or {}):
        raw = gzip.decompress(base64.b64decode(cm["binaryData"]["objects.json.gz"])).decode("utf-8")
    else:
        raw = data.get("objects.json") or "[]"
    return json.loads(raw)


def parse(cm):
    """The Record of an inventory ConfigMap."""
    if cm is None:
        return EMPTY
    try:
        entries = _entries(cm)
        refs = [ObjectRef(*entry[:5]) for entry in entries]
        ran = json.loads((cm.get("data") or {}).get("ran.json") or "{}")
        if not isinstance(ran, dict):
            raise ValueError("ran.json is not a mapping")
    except (ValueError, TypeError, OSError) as exc:
        meta = cm.get("metadata") or {}
        raise GitOpsError("inventory ConfigMap %s/%s is unreadable (%s); fix or delete it (the set then "
                          "forgets what it applied and prunes nothing it does not find by its label)"
                          % (meta.get("namespace"), meta.get("name"), exc))
    abandoned = frozenset(ref.key for ref, entry in zip(refs, entries) if entry[5:6] == [ABANDONED])
    return Record(refs, abandoned, (cm.get("data") or {}).get("revision") or None, cm, ran)


def read(client, namespace, set_name):
    return parse(client.get(CONFIG_MAPS, namespace, set_object_name(set_name)))


def owners(client, namespace, set_name):
    """{ObjectRef.key: set name} of the objects other sets' inventories in `namespace` record (one LIST)."""
    out = {}
    for cm in client.list(CONFIG_MAPS, namespace=namespace, label_selector=INVENTORY_LABEL):
        other = ((cm.get("metadata") or {}).get("labels") or {}).get(INVENTORY_LABEL)
        if other and other != set_name:
            for ref in parse(cm).refs:
                out.setdefault(ref.key, other)
    return out


def body(namespace, set_name, refs, revision, abandoned=frozenset(), ran=None):
    """The inventory ConfigMap to apply for `refs` (a sorted list of ObjectRef); refs whose key is
    in `abandoned` are marked so; `ran` is recorded when not empty."""
    payload = json.dumps([list(ref) + ([ABANDONED] if ref.key in abandoned else []) for ref in refs],
                         separators=(",", ":"))
    cm = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": set_object_name(set_name), "namespace": namespace,
                     "labels": dict(MANAGED_BY, **{INVENTORY_LABEL: set_name})},
        "data": {"set": set_name, "revision": revision or "", "objects": str(len(refs)),
                 "abandoned": str(sum(1 for ref in refs if ref.key in abandoned)),
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    if ran:
        cm["data"]["ran.json"] = json.dumps(ran, sort_keys=True, separators=(",", ":"))
    if len(payload) > GZIP_OVER:
        cm["binaryData"] = {"objects.json.gz": base64.b64encode(gzip.compress(payload.encode("utf-8"))).decode("ascii")}
    else:
        cm["data"]["objects.json"] = payload
    return cm


def unchanged(record, refs, abandoned, revision, ran):
    """Whether writing `refs`/`abandoned`/`revision`/`ran` would record nothing new."""
    return record.configmap is not None and sorted(record.refs) == sorted(refs) \
        and set(record.abandoned) == set(abandoned) and (record.revision or "") == (revision or "") \
        and (record.ran or {}) == (ran or {})


def ensure_namespace(client, namespace, field_manager):
    """Create the inventory namespace when it does not exist (server-side apply: two runs doing it
    at once is harmless).  Inventories and the sets' Leases live there."""
    try:
        exists = client.get(NAMESPACES, None, namespace) is not None
    except ApiError as exc:
        if exc.status != 403:
            raise
        return  # a tenant may not read Namespaces: its inventory namespace exists (docs/rbac.md)
    if not exists:
        client.apply(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                     field_manager, force=True)


def write(client, namespace, set_name, refs, revision, field_manager, abandoned=frozenset(), ran=None):
    ensure_namespace(client, namespace, field_manager)
    client.apply(CONFIG_MAPS, body(namespace, set_name, refs, revision, abandoned, ran), field_manager, force=True)
