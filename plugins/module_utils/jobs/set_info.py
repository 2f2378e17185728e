# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""set_info: the sets of a cluster as their inventories record them, with the holder of each set's
Lease (report/set_status.py shapes each), and their metrics (report/metrics.py).  Two LISTs per
namespace (inventories, Leases), or two cluster-wide; nothing is written to the cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS, LEASES
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import INVENTORY_LABEL, MANAGED_BY, set_object_name
from ansible_collections.gitops.core.plugins.module_utils.report.set_status import one


def read(client, namespaces, set_name=None, now=None):
    """Every set's entry in `namespaces` (None: cluster-wide), or only `set_name`'s, sorted by name."""
    now = time.time() if now is None else now
    selector = "%s=%s" % (INVENTORY_LABEL, set_name) if set_name else INVENTORY_LABEL
    managed = ",".join("%s=%s" % item for item in MANAGED_BY.items())
    out = []
    for namespace in namespaces or [None]:
        leases = dict(((l["metadata"].get("namespace"), l["metadata"]["name"]), l)
                      for l in client.list(LEASES, namespace=namespace, label_selector=managed))
        for cm in client.list(CONFIG_MAPS, namespace=namespace, label_selector=selector):
            meta = cm.get("metadata") or {}
            name = (meta.get("labels") or {}).get(INVENTORY_LABEL)
            if not name or meta.get("name") != set_object_name(name):
                continue  # a declaration's record or another ConfigMap with the label
            out.append(one(cm, leases.get((meta.get("namespace"), set_object_name(name))), now))
    return sorted(out, key=lambda e: (e["name"], e["inventory_namespace"]))
