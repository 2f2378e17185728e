# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A set's status, recorded where the set lives: two annotations of its inventory ConfigMap, each a
JSON document written with a field manager of its own (so the inventory's own writes never remove it):

- `gitops.core/sync-status` (k8s_reconcile): the revision and where it came from (commit subject and
  time, repository, paths, fetched charts), the last sync (time, result, message, duration, what
  started it: the AWX job or the user and host), the objects by kind, the health summary;
- `gitops.core/drift-status` (drift_check): the last check (time, result, drifted count, revision).

Written only when something but the times changed, or when the recorded time is older than the
interval (default 300 s): an unchanged run writes nothing, and "last sync" is then at most that old.
Never a value of an object: names, counts, the commit's subject and a module's failure message (which
already hides every Secret and decrypted value).  A run whose credentials may not write the inventory
(a read-only drift check) records nothing and says so."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import getpass
import json
import os
import socket
import time

from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS, ApiError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (
    DRIFT_STATUS_ANNOTATION, INVENTORY_LABEL, MANAGED_BY, SYNC_STATUS_ANNOTATION, set_object_name)

INTERVAL = 300
VOLATILE = ("time", "duration", "started_by", "last_success")  # what alone never causes a write (within the interval)
MESSAGE_CHARS = 500
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_text(now=None):
    return time.strftime(TIME_FORMAT, time.gmtime(time.time() if now is None else now))


def seconds(text):
    try:
        return calendar.timegm(time.strptime(text, TIME_FORMAT))
    except (TypeError, ValueError):
        return None


def started_by(given=None, environ=None):
    """What started the run: the `started_by` option (roles fill it from AWX's awx_job_id, awx_user_name...),
    else the AWX job of the environment (JOB_ID, AWX_HOST, as AWX sets them for a job), else the user and host."""
    if given:
        return dict((k, v) for k, v in given.items() if v not in (None, ""))
    environ = os.environ if environ is None else environ
    if environ.get("JOB_ID"):
        out = {"awx_job_id": environ["JOB_ID"]}
        host = environ.get("AWX_HOST") or environ.get("TOWER_HOST")
        if host:
            out["awx_job_url"] = "%s/#/jobs/playbook/%s" % (host.rstrip("/"), environ["JOB_ID"])
        return out
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {"user": user, "host": socket.gethostname()}


def recorded(configmap, annotation):
    """The status an inventory ConfigMap records under `annotation`, or None."""
    text = (((configmap or {}).get("metadata") or {}).get("annotations") or {}).get(annotation)
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _stable(status):
    out = dict((k, v) for k, v in status.items() if k not in VOLATILE)
    if isinstance(out.get("last_sync"), dict):
        out["last_sync"] = dict((k, v) for k, v in out["last_sync"].items() if k not in VOLATILE)
    return out


def read(client, namespace, set_name, annotation):
    """(the inventory ConfigMap, the status it records under `annotation`), or (None, None)."""
    try:
        configmap = client.get(CONFIG_MAPS, namespace, set_object_name(set_name))
    except ApiError:
        return None, None
    return configmap, recorded(configmap, annotation)


def needs_write(old, new, interval=INTERVAL, now=None):
    """Whether `new` says something `old` does not, or `old` is older than `interval` seconds."""
    if old is None or _stable(old) != _stable(new):
        return True
    when = seconds((old.get("last_sync") or old).get("time"))
    return when is None or (time.time() if now is None else now) - when >= interval


def by_kind(refs):
    """{group/kind (kind alone for the core group): count} of ObjectRefs."""
    out = {}
    for ref in refs:
        key = "%s/%s" % (ref.group, ref.kind) if ref.group else ref.kind
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def sync_status(revision, source, result, message, duration, refs, health, started, previous=None):
    """The sync-status document of one k8s_reconcile run of a set; `previous` (the recorded one) gives a
    failed run its last success, and the objects its inventory still records."""
    source = dict(source or {})
    previous = previous or {}
    when = now_text()
    status = {"revision": revision or source.get("commit") or "",
              "last_sync": {"time": when, "result": result, "duration": round(duration, 3), "started_by": started},
              "objects": by_kind(refs), "object_count": len(refs)}
    if result == "succeeded":
        status["last_success"] = {"time": when, "revision": status["revision"]}
    elif previous.get("last_success"):
        status["last_success"] = previous["last_success"]
    for key in ("subject", "commit_date", "repo", "path", "charts"):
        if source.get(key):
            status[key] = source[key]
    if message:
        status["last_sync"]["message"] = message[:MESSAGE_CHARS]
    if health:
        status["health"] = health
    return status


def drift_status(revision, result, drifted, message, started, charts=None):
    """The drift-status document of one drift_check run; `charts`: the fetched charts' references and
    digests the check compared with (a chart taken unpinned shows a moved tag here, beside the sync's)."""
    status = {"revision": revision or "", "time": now_text(), "result": result, "drifted": drifted,
              "started_by": started}
    if charts:
        status["charts"] = charts
    if message:
        status["message"] = message[:MESSAGE_CHARS]
    return status


def write(client, namespace, set_name, annotation, status, field_manager):
    """Apply the annotation (with the inventory's labels) as `<field_manager>-status`; returns None, or
    why nothing was recorded (credentials that may not write the inventory)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": set_object_name(set_name), "namespace": namespace,
                         "labels": dict(MANAGED_BY, **{INVENTORY_LABEL: set_name}),
                         "annotations": {annotation: json.dumps(status, sort_keys=True, separators=(",", ":"))}}}
    manager = "%s-%s" % (field_manager, "sync" if annotation == SYNC_STATUS_ANNOTATION else "drift")
    try:
        client.apply(CONFIG_MAPS, body, manager, force=True)
    except ApiError as exc:
        if exc.status in (403, 404):  # forbidden, or the inventory namespace does not exist
            return "not recorded: the credentials may not write ConfigMap %s/%s (%d)" % (
                namespace, set_object_name(set_name), exc.status)
        raise
    return None


def record(client, namespace, set_name, annotation, configmap, status, field_manager, interval=INTERVAL):
    """Write `status` unless `configmap` (the inventory as the run read it) records it already; returns
    what the result says: "recorded", "unchanged", or why it was not recorded."""
    if not needs_write(recorded(configmap, annotation), status, interval):
        return "unchanged"
    return write(client, namespace, set_name, annotation, status, field_manager) or "recorded"


__all__ = ["DRIFT_STATUS_ANNOTATION", "SYNC_STATUS_ANNOTATION"]
