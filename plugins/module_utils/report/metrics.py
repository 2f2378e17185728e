# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus metrics of the sets, named in one place (Prometheus conventions: a `gitops_` prefix,
base units, `_total` counters, `_info` for labels with value 1), as plain data: set_info writes them
as a node_exporter textfile, the event source serves them (with its own `gitops_agent_` ones) through
prometheus-client.  Labels hold names, revisions and results - never a value of an object.

docs/observability.md lists each beside Flux's and Argo CD's equivalents."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.engine import status

# name -> (type, help); the per-set metrics from the inventories' status
SET_METRICS = {
    "gitops_set_info": ("gauge", "A set's revision and source, as labels (value 1)"),
    "gitops_set_last_sync_timestamp_seconds": ("gauge", "When the set's last sync finished"),
    "gitops_set_last_sync_success": ("gauge", "1 when the set's last sync succeeded, 0 when it failed"),
    "gitops_set_last_sync_duration_seconds": ("gauge", "How long the set's last sync took"),
    "gitops_set_last_success_timestamp_seconds": ("gauge", "When the set's last successful sync finished"),
    "gitops_set_objects": ("gauge", "Objects the set's inventory records"),
    "gitops_set_drifted_objects": ("gauge", "Objects the set's last drift check found drifted"),
    "gitops_set_last_drift_check_timestamp_seconds": ("gauge", "When the set's last drift check ran"),
    "gitops_set_locked": ("gauge", "1 while a run holds the set's Lease"),
}
# the event source's own: per set it watches, and per watched resource (plural, or inventories, declaration)
AGENT_METRICS = {
    "gitops_agent_watched_objects": ("gauge", "Objects of the set the agent watches"),
    "gitops_agent_drifted_objects": ("gauge", "Objects of the set the agent sees drifted now"),
    "gitops_agent_events_total": ("counter", "Drift events the agent emitted for the set"),
    "gitops_agent_last_event_timestamp_seconds": ("gauge", "When the agent last emitted an event for the set"),
    "gitops_agent_watches_connected": ("gauge", "Watches of the resource open now"),
    "gitops_agent_relists_total": ("counter", "Lists of the resource (at start, after a 410 Gone, after a reconnect)"),
    "gitops_agent_reconnects_total": ("counter", "Watches of the resource that ended with an error and were opened again"),
}

ALL = dict(SET_METRICS, **AGENT_METRICS)


def set_samples(entries):
    """{metric name: [(labels, value)]} of set_info's entries (report/set_status.py)."""
    out = dict((name, []) for name in SET_METRICS)
    for e in entries:
        base = {"set": e["name"], "namespace": e["inventory_namespace"]}
        info = dict(base, revision=e.get("revision") or "", repo=e.get("repo") or "",
                    result=(e.get("last_sync") or {}).get("result") or "unknown")
        out["gitops_set_info"].append((info, 1))
        last = e.get("last_sync") or {}
        when = status.seconds(last.get("time"))
        if when is not None:
            out["gitops_set_last_sync_timestamp_seconds"].append((base, when))
            out["gitops_set_last_sync_success"].append((base, 1 if last.get("result") == "succeeded" else 0))
            if last.get("duration") is not None:
                out["gitops_set_last_sync_duration_seconds"].append((base, last["duration"]))
        success = status.seconds((e.get("last_success") or {}).get("time"))
        if success is not None:
            out["gitops_set_last_success_timestamp_seconds"].append((base, success))
        if e.get("object_count") is not None:
            out["gitops_set_objects"].append((base, e["object_count"]))
        drift = e.get("drift") or {}
        if drift.get("time"):
            out["gitops_set_drifted_objects"].append((base, drift.get("drifted") or 0))
            out["gitops_set_last_drift_check_timestamp_seconds"].append((base, status.seconds(drift["time"]) or 0))
        out["gitops_set_locked"].append((base, 1 if e.get("lock") and not e["lock"]["expired"] else 0))
    return out


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(samples, metrics=None):
    """The Prometheus text exposition format (version 0.0.4) of {name: [(labels, value)]}."""
    metrics = metrics or ALL
    lines = []
    for name, values in samples.items():
        kind, text = metrics[name]
        lines += ["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind)]
        for labels, value in values:
            shown = ",".join('%s="%s"' % (k, _escape(v)) for k, v in sorted(labels.items()))
            lines.append("%s{%s} %s" % (name, shown, repr(float(value)) if isinstance(value, float) else value))
    return "\n".join(lines) + "\n"


def write_textfile(path, text):
    """Write a node_exporter textfile atomically: a temporary file in the same folder, renamed over it
    (node_exporter never reads half a file)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
