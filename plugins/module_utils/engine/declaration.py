# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A sets declaration's own inventory: ConfigMap `gitops-sets-<declaration>` in the inventory
namespace, recording every set the declaration has run (with the namespace of that set's own
inventory and Lease), so that a set removed from the declaration is found again: abandoned and
reported, or - when the declaration says prune - pruned whole.  A set is recorded before its first
run (as an object is before its first write), so a run that dies half-way forgets no set."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.gitops.core.plugins.module_utils.engine import inventory
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS, LEASES
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (
    DECLARATION_LABEL, MANAGED_BY, declaration_object_name, set_object_name)


def read(client, namespace, name):
    """{set name: {"inventory_namespace": ns, "abandoned": bool}} the declaration recorded, and
    whether its ConfigMap exists."""
    cm = client.get(CONFIG_MAPS, namespace, declaration_object_name(name))
    if cm is None:
        return {}, False
    return parse(cm), True


def parse(cm):
    """{set name: {"inventory_namespace", "abandoned"}} of a declaration's inventory ConfigMap."""
    meta = cm.get("metadata") or {}
    try:
        sets = json.loads((cm.get("data") or {}).get("sets.json") or "{}")
        if not isinstance(sets, dict) or not all(isinstance(v, dict) for v in sets.values()):
            raise ValueError("sets.json is not a mapping of set names")
    except ValueError as exc:
        raise GitOpsError("declaration inventory ConfigMap %s/%s is unreadable (%s); fix or delete it (the "
                          "declaration then forgets which sets it ran, and prunes none it no longer declares)"
                          % (meta.get("namespace"), meta.get("name"), exc))
    return sets


def declared(sets):
    """The names of the sets a declaration's record lists and has not abandoned."""
    return sorted(name for name, record in sets.items() if not record.get("abandoned"))


def write(client, namespace, name, sets, field_manager):
    """Record `sets` ({set name: {"inventory_namespace", "abandoned"}}) by server-side apply."""
    inventory.ensure_namespace(client, namespace, field_manager)
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": declaration_object_name(name), "namespace": namespace,
                         "labels": dict(MANAGED_BY, **{DECLARATION_LABEL: name})},
            "data": {"declaration": name, "sets": str(len(sets)),
                     "sets.json": json.dumps(sets, sort_keys=True, separators=(",", ":"))}}
    client.apply(CONFIG_MAPS, body, field_manager, force=True)


def forget_set(client, namespace, set_name):
    """Delete the inventory ConfigMap and the Lease of a set pruned whole (its inventory lists nothing)."""
    client.delete(CONFIG_MAPS, namespace, set_object_name(set_name))
    client.delete(LEASES, namespace, set_object_name(set_name))
