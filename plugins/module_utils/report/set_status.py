# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is deployed where, and is it healthy: one set's entry of set_info's result (the `flux get` or
`argocd app list` of the collection) from its inventory ConfigMap, as engine/status.py recorded it,
and its Lease; jobs/set_info.py reads them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import time

from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (
    DRIFT_STATUS_ANNOTATION, INVENTORY_LABEL, SYNC_STATUS_ANNOTATION)
from ansible_collections.gitops.core.plugins.module_utils.engine import status

_MICRO = "%Y-%m-%dT%H:%M:%S"


def _lease_time(text):
    """Seconds since the epoch of a Lease's MicroTime (2026-12-03T16:59:01.123456Z)."""
    try:
        return calendar.timegm(time.strptime((text or "").split(".")[0].rstrip("Z"), _MICRO))
    except ValueError:
        return None


def lock_of(lease, now):
    """The Lease's holder, when it was renewed, and whether it has expired by the clock (renewTime plus
    leaseDurationSeconds in the past: a run killed without releasing it)."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return None
    renewed = _lease_time(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds") or 0
    return {"holder": holder, "renewed": spec.get("renewTime"),
            "expired": renewed is not None and now - renewed > duration}


def one(configmap, lease, now):
    """One set's entry from its inventory ConfigMap and its Lease."""
    meta = configmap.get("metadata") or {}
    data = configmap.get("data") or {}
    sync = status.recorded(configmap, SYNC_STATUS_ANNOTATION) or {}
    drift = status.recorded(configmap, DRIFT_STATUS_ANNOTATION)
    entry = {"name": (meta.get("labels") or {}).get(INVENTORY_LABEL), "inventory_namespace": meta.get("namespace"),
             "revision": sync.get("revision") or data.get("revision") or None,
             "object_count": sync.get("object_count", int(data["objects"]) if str(data.get("objects", "")).isdigit() else None),
             "objects": sync.get("objects") or {}, "last_sync": sync.get("last_sync"),
             "last_success": sync.get("last_success"), "health": sync.get("health"),
             "drift": drift, "lock": lock_of(lease, now), "inventory_time": data.get("time")}
    for key in ("subject", "commit_date", "repo", "path", "charts"):
        entry[key] = sync.get(key)
    entry["state"] = state_of(entry)
    return entry


def state_of(entry):
    """One word for the table: running (a live Lease), failed, drifted, synced, or unknown (never synced
    with a status)."""
    if entry["lock"] and not entry["lock"]["expired"]:
        return "running"
    last = entry["last_sync"] or {}
    if last.get("result") == "failed":
        return "failed"
    if (entry["drift"] or {}).get("result") == "drift":
        return "drifted"
    return "synced" if last.get("result") == "succeeded" else "unknown"


def summary(entries):
    out = {"sets": len(entries)}
    for entry in entries:
        out[entry["state"]] = out.get(entry["state"], 0) + 1
    return out
