# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""metadata.managedFields (FieldsV1) read as paths: which fields a manager owns, and which
managers own a given path.

Paths are those of common/paths.py (the one grammar); compare.py produces paths of the same shape."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.gitops.core.plugins.module_utils.common.paths import Key, Value


def _step(token):
    kind, _colon, rest = token.partition(":")
    if kind == "f":
        return rest
    if kind == "k":
        return Key.of(json.loads(rest))
    if kind == "v":
        return Value(json.loads(rest))
    if kind == "i":
        return int(rest)
    return None


def owned_paths(fields_v1):
    """The paths a FieldsV1 tree marks as owned: its leaves, and the items marked with '.'."""
    out = set()

    def walk(node, path):
        if not node:
            out.add(path)
            return
        for token, child in node.items():
            if token == ".":
                out.add(path)
                continue
            step = _step(token)
            if step is not None:
                walk(child or {}, path + (step,))

    walk(fields_v1 or {}, ())
    return out


def entries(obj):
    return (obj.get("metadata") or {}).get("managedFields") or []


def owned_by(obj, manager, operation="Apply"):
    """Paths owned by `manager` through `operation` on a live object."""
    paths = set()
    for entry in entries(obj):
        if entry.get("manager") == manager and entry.get("operation") == operation:
            paths |= owned_paths(entry.get("fieldsV1"))
    return paths


def managers_of(obj, path):
    """[{manager, operation, time}] of every entry owning `path`, a prefix of it, or a field below it."""
    out = []
    n = len(path)
    for entry in entries(obj):
        for owned in owned_paths(entry.get("fieldsV1")):
            m = min(n, len(owned))
            if owned[:m] == path[:m]:
                out.append({"manager": entry.get("manager"), "operation": entry.get("operation"),
                            "subresource": entry.get("subresource"), "time": entry.get("time")})
                break
    return out


LEFT_OVER = "written by gitops.core and no longer declared in Git; the next sync removes it"


def changed_by(live, path, our_manager, declared=True):
    """Who owns a drifted field now.  A field Git no longer declares (`declared` false) that only
    our manager owns was written by us and is left over: said so.  When nobody owns it (the field
    was removed, and Kubernetes keeps no record of who removed it), the most recent writer other
    than us that could have changed it (status-subresource writers cannot touch spec or metadata),
    marked as a guess."""
    managers = managers_of(live, path)
    owners = [m for m in managers if m["manager"] != our_manager]
    if owners:
        return owners
    if not declared and managers:
        return [dict(managers[0], note=LEFT_OVER)]
    could = [e for e in entries(live)
             if e.get("manager") != our_manager and e.get("time")
             and (e.get("subresource") != "status" or path[:1] == ("status",))]
    if not could:
        return []
    last = max(could, key=lambda e: e["time"])
    return [{"manager": last.get("manager"), "operation": last.get("operation"),
             "subresource": last.get("subresource"), "time": last.get("time"),
             "note": "last writer; the field itself has no owner now"}]
