# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory of a set: ConfigMap `gitops-set-<set>` in the inventory namespace, listing every
object the set applied, with the revision and time of the run that wrote it.  It is written only
after a fully successful run, so a failed run never forgets an object."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import json
import time

from ansible_collections.gitops.core.plugins.module_utils.objref import ObjectRef

INVENTORY_LABEL = "gitops.core/inventory"
GZIP_OVER = 512 * 1024


def name_for(set_name):
    return "gitops-set-%s" % set_name


def read(client, namespace, set_name):
    """(list of ObjectRef, inventory ConfigMap or None)."""
    res = client.resource("", "v1", "ConfigMap")
    cm = client.get(res, namespace, name_for(set_name))
    if cm is None:
        return [], None
    data = cm.get("data") or {}
    if "objects.json.gz" in (cm.get("binaryData") or {}):
        raw = gzip.decompress(base64.b64decode(cm["binaryData"]["objects.json.gz"])).decode("utf-8")
    else:
        raw = data.get("objects.json") or "[]"
    return [ObjectRef(*entry) for entry in json.loads(raw)], cm


def body(namespace, set_name, refs, revision):
    """The inventory ConfigMap to apply for `refs` (a sorted list of ObjectRef)."""
    payload = json.dumps([list(ref) for ref in refs], separators=(",", ":"))
    cm = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name_for(set_name), "namespace": namespace,
                     "labels": {INVENTORY_LABEL: set_name, "app.kubernetes.io/managed-by": "gitops.core"}},
        "data": {"set": set_name, "revision": revision or "", "objects": str(len(refs)),
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    if len(payload) > GZIP_OVER:
        cm["binaryData"] = {"objects.json.gz": base64.b64encode(gzip.compress(payload.encode("utf-8"))).decode("ascii")}
    else:
        cm["data"]["objects.json"] = payload
    return cm


def write(client, namespace, set_name, refs, revision, field_manager):
    ns_res = client.resource("", "v1", "Namespace")
    if client.get(ns_res, None, namespace) is None:
        client.apply(ns_res, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                     field_manager, force=True)
    res = client.resource("", "v1", "ConfigMap")
    client.apply(res, body(namespace, set_name, refs, revision), field_manager, force=True)
