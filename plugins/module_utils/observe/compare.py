# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one comparison engine of gitops.core (k8s_reconcile and drift_check both use it).

`diff(desired, live, manager)` lists every field where the live object differs from what Git
declares, without false alarms from what the server adds:
- desired is compared as a subset of live: fields the server defaults, status and server-owned
  metadata are not drift;
- values are normalised: quantities ("500m" == "0.5", "1Gi" == "1024Mi"), int-or-string ("80" ==
  80), 1 == 1.0, empty == absent, Secret stringData == data;
- lists known to be keyed (containers by name, ports by port and protocol, env by name, ...) are
  matched by key in any order, and an item present live but not in Git is drift; other lists of
  objects are matched by position, lists of scalars must be equal;
- fields our field manager applied before but Git no longer declares are drift (a server-side
  apply would remove them).
Secret values never leave this module: diffs of Secret data say `changed (values hidden)`."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re
from collections import namedtuple
from decimal import Decimal, InvalidOperation

from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, paths
from ansible_collections.gitops.core.plugins.module_utils.observe import managedfields
from ansible_collections.gitops.core.plugins.module_utils.common.paths import Key, Value
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import HIDDEN, HIDDEN_CHANGE, REVISION_ANNOTATION


class _Absent(object):
    def __repr__(self):
        return "<absent>"


ABSENT = _Absent()

# A drifted field: path (tuple of steps), what Git declares, what is live (ABSENT when missing).
Diff = namedtuple("Diff", "path desired live")

SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds")

# list field name -> key fields (with defaults the server fills in)
_KEYED = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "env": ("name",), "volumes": ("name",), "volumeMounts": ("mountPath",), "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",), "hostAliases": ("ip",), "resourceClaims": ("name",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"), "ownerReferences": ("uid",),
    "conditions": ("type",),
}
_KEY_DEFAULTS = {"protocol": "TCP"}
_SET_LISTS = ("finalizers",)
_QUANTITY_CONTEXT = ("resources", "limits", "requests", "hard", "capacity", "allocatable", "overhead")
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[mkMGTPEun]|)$")
_SUFFIX = {"": 1, "m": Decimal("0.001"), "u": Decimal("0.000001"), "n": Decimal("0.000000001"),
           "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
           "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}


def quantity(value):
    """A Kubernetes quantity as a Decimal, or None when `value` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY_RE.match(value.strip())
    if not m:
        return None
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        return None
    suffix = m.group(2)
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]


def _is_empty(value):
    return value is None or value is ABSENT or value == {} or value == [] or value == ""


def _scalar_equal(desired, live, path):
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired == live and isinstance(desired, bool) and isinstance(live, bool)
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    # int-or-string: 8080 and "8080"
    if isinstance(desired, (int, str)) and isinstance(live, (int, str)) and str(desired) == str(live):
        return True
    if any(isinstance(step, str) and step in _QUANTITY_CONTEXT for step in path):
        qd, ql = quantity(desired), quantity(live)
        return qd is not None and qd == ql
    return False


def _key_fields(field, items):
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        if "containerPort" in sample:
            return ("containerPort", "protocol")
        if "port" in sample:
            return ("port", "protocol")
        return None
    return _KEYED.get(field)


def _key_value(value):
    """Key values compare as int-or-string: "8080" and 8080 name the same port."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _key_of(item, fields):
    if not isinstance(item, dict):
        return None
    values = {}
    for f in fields:
        v = item.get(f, _KEY_DEFAULTS.get(f))
        if v is None:
            return None
        values[f] = _key_value(v)
    return Key.of(values)


def _diff(desired, live, path, out):
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            if not (_is_empty(live) and _is_empty(desired)):
                out.append(Diff(path, desired, live))
            return
        for key, dv in desired.items():
            lv = live.get(key, ABSENT)
            if lv is ABSENT or lv is None:
                if not _is_empty(dv):
                    out.append(Diff(path + (key,), dv, ABSENT))
                continue
            _diff(dv, lv, path + (key,), out)
        return
    if isinstance(desired, list):
        if not isinstance(live, list):
            if not (_is_empty(live) and _is_empty(desired)):
                out.append(Diff(path, desired, live))
            return
        field = path[-1] if path and isinstance(path[-1], str) else None
        if field in _SET_LISTS:
            if sorted(map(str, desired)) != sorted(map(str, live)):
                out.append(Diff(path, desired, live))
            return
        fields = _key_fields(field, desired + live) if field else None
        keyed = fields and all(_key_of(i, fields) for i in desired + live)
        if keyed:
            live_by_key = {_key_of(i, fields): i for i in live}
            desired_keys = set()
            for item in desired:
                key = _key_of(item, fields)
                desired_keys.add(key)
                if key in live_by_key:
                    _diff(item, live_by_key[key], path + (key,), out)
                else:
                    out.append(Diff(path + (key,), item, ABSENT))
            for key, item in live_by_key.items():
                if key not in desired_keys:
                    out.append(Diff(path + (key,), ABSENT, item))
            return
        if len(desired) != len(live) or not all(isinstance(i, dict) for i in desired + live):
            if len(desired) != len(live) or any(not _values_equal(d, l, path) for d, l in zip(desired, live)):
                out.append(Diff(path, desired, live))
            return
        for index, (d, l) in enumerate(zip(desired, live)):
            _diff(d, l, path + (index,), out)
        return
    if desired is None:
        return  # null in Git: "leave it to the server"
    if not _scalar_equal(desired, live, path):
        out.append(Diff(path, desired, live))


def _values_equal(desired, live, path):
    found = []
    _diff(desired, live, path, found)
    return not found


def _lookup(obj, path):
    """The value at `path` in `obj`, or ABSENT."""
    node = obj
    for step in path:
        if isinstance(step, Key):
            wanted = dict(step.fields)
            if not isinstance(node, list):
                return ABSENT
            node = next((i for i in node if isinstance(i, dict) and all(
                _key_value(i.get(k, _KEY_DEFAULTS.get(k))) == _key_value(v) for k, v in wanted.items())), ABSENT)
        elif isinstance(step, Value):
            if not isinstance(node, list) or step.value not in node:
                return ABSENT
            node = step.value
        elif isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return ABSENT
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return ABSENT
            node = node[step]
        if node is ABSENT:
            return ABSENT
    return node


def _without_server_fields(obj):
    """A copy of `obj` without status and server-owned metadata.  Only the maps this module changes
    afterwards (the object, its metadata and annotations) are copied: a deep copy of every object
    cost more than the whole comparison at 1,000 objects.  Nested values are shared, never mutated."""
    obj = {k: v for k, v in obj.items() if k != "status"}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta = obj["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
        if isinstance(meta.get("annotations"), dict):
            meta["annotations"] = dict(meta["annotations"])
    return obj


def normalise_desired(obj):
    """What Git declares, as it is compared: no status or server-owned metadata, Secret stringData
    folded into data (base64), as the API server does."""
    obj = _without_server_fields(obj)
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1" and isinstance(obj.get("stringData"), dict):
        data = dict(obj.get("data") or {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        obj["data"] = data
    return obj


def diff(desired, live, manager=None):
    """Every Diff between an object as Git declares it and as it is live.

    desired: the object as it will be applied (normalise_desired applied here); live: the object
    from the API; manager: our field manager, whose owned-but-no-longer-declared fields count as
    drift.  The revision annotation is bookkeeping, never drift."""
    want = normalise_desired(desired)
    annotations = (want.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(REVISION_ANNOTATION, None)  # an empty map stays: it declares nothing
    found = []
    _diff({k: v for k, v in want.items() if k not in ("apiVersion", "kind")}, live, (), found)
    if manager:
        declared = {d.path for d in found}
        for path in sorted(managedfields.owned_by(live, manager), key=lambda p: [str(s) for s in p]):
            if path in declared or not path or path[0] in ("status", "apiVersion", "kind"):
                continue
            if _lookup(want, path) is ABSENT and _lookup(live, path) is not ABSENT:
                found.append(Diff(path, ABSENT, _lookup(live, path)))
    return [d for d in found if d.path[:3] != ("metadata", "annotations", REVISION_ANNOTATION)]


# ------------------------------------------------------------------ presenting

def _secret_value(kind, path):
    return kind == "Secret" and path and path[0] in ("data", "stringData")


def index_path(obj, path):
    """A diff path as the index path of the same field in `obj` (list items by position, as
    decrypted.py names fields), or None when `obj` lacks it."""
    node, out = obj, []
    for step in path:
        if isinstance(step, (Key, Value)):
            if not isinstance(node, list):
                return None
            target = _lookup(node, (step,))
            index = next((i for i, item in enumerate(node) if item is target), None)
            if index is None:
                return None
            node = node[index]
            out.append(index)
        elif isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
            node = node[step]
            out.append(step)
        else:
            if not isinstance(node, dict) or step not in node:
                return None
            node = node[step]
            out.append(step)
    return out


def _show(value):
    return None if value is ABSENT else value


def _decrypted_at(obj, hidden, path):
    """Whether the diff path `path` is, or lies inside, a field that `obj` names (`hidden`) as decrypted."""
    where = index_path(obj, path) if hidden else None
    return where is not None and decrypted.covers(hidden, where)


def describe(diffs, kind, desired=None, live=None):
    """Diffs as plain data for results and reports: [{path, desired, live}] (absent = null).
    Secret data values, and the fields that `desired` or `live` names as holding decrypted values,
    are replaced by `(hidden)`, and nothing derived from a value (no hash, no length) is shown: only
    that the field was added, removed or changed.  Both sides count: a decrypted field that Git no
    longer declares is named only by the live object (it was applied with the earlier annotation)."""
    hidden = [(obj, decrypted.fields(obj)) for obj in (desired, live)]
    out = []
    for d in diffs:
        entry = {"path": paths.dotted(d.path), "desired": _show(d.desired), "live": _show(d.live)}
        if _secret_value(kind, d.path) or any(_decrypted_at(obj, fields, d.path) for obj, fields in hidden):
            entry["desired"] = None if d.desired is ABSENT else HIDDEN
            entry["live"] = None if d.live is ABSENT else HIDDEN
            entry["note"] = HIDDEN_CHANGE
        out.append(entry)
    return out


def strip_server_fields(obj):
    """An object without status and server-owned metadata, for before/after diffs."""
    if not isinstance(obj, dict):
        return obj
    return _without_server_fields(obj)


def same_result(dry_run, live):
    """Whether a server-side dry-run result equals the live object in everything but server
    bookkeeping: then applying would change nothing."""
    a, b = strip_server_fields(dry_run), strip_server_fields(live)
    for obj in (a, b):
        ann = (obj.get("metadata") or {}).get("annotations")
        if ann:
            ann.pop(REVISION_ANNOTATION, None)
    return a == b
