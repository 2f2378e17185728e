# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gitops.core.k8s_drift: an ansible-rulebook event source for live drift of gitops.core sets."""

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Live drift of gitops.core sets, from Kubernetes watches, in seconds.
description:
  - Watches the objects of one or more sets (their C(gitops.core/set) label; the kinds each set's
    inventory records, re-read whenever an inventory changes) and puts one event on the queue when
    something other than gitops.core changes a field a set applied (the field leaves gitops.core's
    server-side-apply entry in managedFields for another manager), when an object of a set is
    deleted, and when an object carrying a set's label appears that the set never applied.
  - Status-only updates, gitops.core's own applies, prunes and heals, and objects in sync emit
    nothing. While a set's Lease is held (a sync or heal is running) its events wait, and are
    dropped if that run already put things back.
  - Events are debounced per object (a burst of edits is one event) and carry the set, the object,
    the kind of change, the managers and the field paths - never a value, Secrets included.
  - Watches run in threads with resourceVersion and bookmarks, relist on 410 Gone and reconnect with
    backoff when the API server goes away (a relist then reports what changed meanwhile); the event
    loop is never blocked.
  - At start, one C(startup) event per set (turn off with O(startup_events=false)), so the rulebook
    can run one drift check for drift that happened while nothing watched.
  - Takes the cluster options of the collection's modules (kubeconfig, context, host, api_key,
    certificates, proxy, impersonation), each also read from its C(K8S_AUTH_*) variable.
options:
  sets:
    description: The sets to watch (their set_name).
    type: list
    elements: str
    required: true
  inventory_namespace:
    description: Where the sets' inventories and Leases live.
    type: str
    default: gitops-system
  field_manager:
    description: The field manager the sets apply with.
    type: str
    default: gitops-core
  namespaces:
    description:
      - Watch only these namespaces (a tenant's credentials may not list cluster-wide). Empty - all.
    type: list
    elements: str
  debounce:
    description: Seconds an object's changes are gathered into one event.
    type: float
    default: 1.0
  startup_events:
    description: Put one C(startup) event per set on the queue when the watches are up.
    type: bool
    default: true
  watch_timeout:
    description: Seconds one watch request lasts before it is renewed (from its resourceVersion).
    type: int
    default: 300
notes:
  - The event is C({"gitops" {"set", "change" (modified, deleted, unrecorded, startup), "ref", "object"
    {group, version, kind, namespace, name}, "managers", "fields"}}).
  - Needs list and watch on the sets' kinds, and get, list and watch on ConfigMaps and Leases in the
    inventory namespace (docs/rbac.md).
"""

EXAMPLES = r"""
- name: Heal live drift of the production sets
  hosts: localhost
  sources:
    - gitops.core.k8s_drift:
        sets: [prod-apps, prod-infra]
        kubeconfig: /runner/kubeconfig
  rules:
    - name: Drift check and heal the set
      condition: event.gitops.change is defined
      action:
        run_playbook:
          name: gitops.core.drift_check
          extra_vars:
            drift_set_name: "{{ event.gitops.set }}"
            drift_remediate: true
"""

import asyncio
import logging
import os
import random
import sys
import threading
import time
from typing import Any

_HERE = os.path.abspath(__file__)


def _importable() -> None:
    """Make the collection importable: ansible-rulebook runs this file by path, not as a package."""
    try:
        import ansible_collections.gitops.core.plugins.module_utils.observe.live_drift  # noqa: F401
    except ImportError:
        root = _HERE
        for _level in range(8):  # <root>/ansible_collections/gitops/core/extensions/eda/plugins/event_source/x.py
            root = os.path.dirname(root)
        sys.path.insert(0, root)


_importable()

from ansible_collections.gitops.core.plugins.module_utils.cluster import auth_args, kube, kubeconfig  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.engine import inventory  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common import paths  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.observe import live_drift, managedfields  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.cluster.discovery import Discovery  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (  # noqa: E402
    FIELD_MANAGER, INVENTORY_LABEL, SET_LABEL, set_object_name)

LOG = logging.getLogger("gitops.core.k8s_drift")
LEASES = kube.Resource("coordination.k8s.io", "v1", "Lease", "leases", True, ())
BACKOFF_MAX = 30.0
LEASE_WAIT = 300.0


def auth_params(args: dict[str, Any]) -> dict[str, Any]:
    """The modules' auth options from the source's args, each falling back to its K8S_AUTH_* variables."""
    params = {}
    for name, spec in auth_args.auth_argument_spec().items():
        value = args.get(name)
        for alias in spec.get("aliases") or []:
            value = args.get(alias) if value in (None, "") else value
        if value in (None, ""):  # a rulebook's `{{ var | default('') }}` leaves the option to K8S_AUTH_*
            value = None
            for env in auth_args.AUTH_ENV.get(name, []):
                if os.environ.get(env):
                    value = os.environ[env]
                    break
        if spec.get("type") == "bool" and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        if spec.get("type") == "list" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        params[name] = value
    params["api_retries"] = int(args.get("api_retries", 3))
    return params


class Agent:
    """The watches of one source and the queue they feed."""

    def __init__(self, args: dict[str, Any], queue: asyncio.Queue, loop: asyncio.AbstractEventLoop):
        sets = args.get("sets")
        if isinstance(sets, str):
            sets = [sets]
        if not sets:
            raise GitOpsError("gitops.core.k8s_drift: `sets` names no set")
        self.sets = sorted(set(sets))
        self.queue, self.loop = queue, loop
        self.inventory_namespace = args.get("inventory_namespace") or "gitops-system"
        self.manager = args.get("field_manager") or FIELD_MANAGER
        self.namespaces = list(args.get("namespaces") or []) or [None]
        self.debounce = float(args.get("debounce", 1.0))
        self.startup_events = bool(args.get("startup_events", True))
        self.watch_timeout = int(args.get("watch_timeout", 300))
        self.params = auth_params(args)
        self.tracker = live_drift.Tracker(self.sets, self.manager)
        self.lock = threading.Lock()        # the tracker is shared by the watch threads
        self.stopping = threading.Event()
        self.watched = {}                   # (group, version, kind) -> thread
        self.pending = {}                   # object key -> (Change, timer handle)
        self.ready = {}                     # (group, version, kind) -> threading.Event: first list done

    # ------------------------------------------------------------------ cluster access (threads)
    def client(self) -> kube.Client:
        return kube.Client(kubeconfig.load(self.params), parallelism=4, retries=self.params["api_retries"])

    def _loop_until_stopped(self, what: str, body) -> None:
        """Run `body(client)` again and again (it returns when its watch ends) with a fresh client
        after a failure, backing off while the API server is away."""
        delay = 1.0
        while not self.stopping.is_set():
            try:
                body(self.client())
                delay = 1.0
            except Exception as exc:  # the API server went away, a 410 on a relist, a bad answer
                LOG.warning("gitops.core.k8s_drift: %s: %s; retrying in %.0fs", what, exc, delay)
                self.stopping.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)

    def _inventories(self, client: kube.Client) -> None:
        """List and watch the sets' inventory ConfigMaps; start a watch for every kind they record."""
        selector = "%s in (%s)" % (INVENTORY_LABEL, ",".join(self.sets))
        items, version = client.list_for_watch(kube.CONFIG_MAPS, self.inventory_namespace, selector)
        for cm in items:
            self._inventory_changed(client, "ADDED", cm)
        for event_type, cm in client.watch_collection(kube.CONFIG_MAPS, self.inventory_namespace, selector, version,
                                                      self.watch_timeout, self.stopping):
            self._inventory_changed(client, event_type, cm)

    def _inventory_changed(self, client: kube.Client, event_type: str, cm: dict) -> None:
        set_name = ((cm.get("metadata") or {}).get("labels") or {}).get(INVENTORY_LABEL)
        if set_name not in self.sets:
            return
        refs = [] if event_type == "DELETED" else inventory.parse(cm).refs
        with self.lock:
            self.tracker.record_inventory(set_name, refs)
        kinds = sorted(set((r.group, r.version, r.kind) for r in refs) - set(self.watched))
        discovery = Discovery(client) if kinds else None  # one discovery for the kinds this inventory adds
        for gvk in kinds:
            self._watch_kind(discovery, gvk)

    def _watch_kind(self, discovery: Discovery, gvk) -> None:
        res = discovery.resource(*gvk)
        if res is None:
            LOG.warning("gitops.core.k8s_drift: the cluster does not serve %s/%s %s", *gvk)
            return
        self.ready[gvk] = threading.Event()
        for namespace in self.namespaces:
            thread = threading.Thread(target=self._loop_until_stopped, daemon=True,
                                      args=("watch %s" % res.plural, lambda c, r=res, n=namespace: self._objects(c, r, n)),
                                      name="k8s_drift %s %s" % (res.plural, namespace or "*"))
            thread.start()
        self.watched[gvk] = True

    def _objects(self, client: kube.Client, res, namespace) -> None:
        """List, then watch, the sets' objects of one resource; a relist reports what changed while away."""
        selector = "%s in (%s)" % (SET_LABEL, ",".join(self.sets))
        items, version = client.list_for_watch(res, namespace if res.namespaced else None, selector)
        listed = set()
        for obj in items:
            listed.add(ObjectRef.from_object(obj).key)
            with self.lock:
                change = self.tracker.observe("MODIFIED", obj, listed=True)
            self._emit(change)
        with self.lock:
            gone = self.tracker.relisted(res, namespace if res.namespaced else None, listed)
        for change in gone:  # deleted while the watch was away
            self._emit(change)
        self.ready[(res.group, res.version, res.kind)].set()
        for event_type, obj in client.watch_collection(res, namespace if res.namespaced else None, selector, version,
                                                       self.watch_timeout, self.stopping):
            with self.lock:
                change = self.tracker.observe(event_type, obj)
            self._emit(change)

    # ------------------------------------------------------------------ debounce and checks (event loop)
    def _emit(self, change) -> None:
        if change is not None:
            LOG.debug("gitops.core.k8s_drift: %s %s %s", change.change, change.ref, change.fields)
            self.loop.call_soon_threadsafe(self._pend, change)

    def _pend(self, change) -> None:
        key = change.ref.key
        if key in self.pending:
            earlier, handle = self.pending[key]
            handle.cancel()
            change = live_drift.merge(earlier, change)
        handle = self.loop.call_later(self.debounce, lambda: asyncio.ensure_future(self._flush(key)))
        self.pending[key] = (change, handle)

    async def _flush(self, key) -> None:
        change, _handle = self.pending.pop(key, (None, None))
        if change is None:
            return
        try:
            change = await asyncio.to_thread(self._still_drift, change)
        except Exception as exc:  # the API server away: report what was seen
            LOG.warning("gitops.core.k8s_drift: could not re-check %s: %s", change.ref, exc)
        if change is not None:
            await self.queue.put(live_drift.event(change))
        else:
            LOG.info("gitops.core.k8s_drift: %s settled by gitops.core meanwhile; no event", key)

    def _still_drift(self, change):
        """While the set's Lease is held (a sync or heal runs) wait; then drop what that run settled:
        a deletion the inventory no longer records (a prune), fields gitops.core owns again (a heal)."""
        client = self.client()
        lease = set_object_name(change.set)
        give_up = time.monotonic() + LEASE_WAIT  # a Lease left by a killed run expires; do not wait for ever
        while not self.stopping.is_set() and time.monotonic() < give_up:
            held = client.get(LEASES, self.inventory_namespace, lease)
            if not held or not (held.get("spec") or {}).get("holderIdentity"):
                break
            time.sleep(0.5)
        if change.change == live_drift.DELETED:
            record = inventory.read(client, self.inventory_namespace, change.set)
            return change if any(r.key == change.ref.key for r in record.refs) else None
        if change.change == live_drift.MODIFIED:
            res = Discovery(client).resource(change.ref.group, change.ref.version, change.ref.kind)
            live = client.get(res, change.ref.namespace, change.ref.name) if res else None
            if live is None:
                return change
            ours = set(paths.dotted(p) for p in live_drift.declared_now(live, self.manager))
            fields = [f for f in change.fields if f not in ours]
            return change._replace(fields=fields) if fields else None
        return change

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        thread = threading.Thread(target=self._loop_until_stopped, daemon=True, name="k8s_drift inventories",
                                  args=("watch inventories", self._inventories))
        thread.start()
        try:
            if self.startup_events:
                await self._startup()
            while True:
                await asyncio.sleep(3600)
        finally:
            self.stopping.set()

    async def _startup(self) -> None:
        """One `startup` event per set once each recorded kind has been listed (or after 60 s)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            with self.lock:
                known = all(s in self.tracker.recorded for s in self.sets)
            if known and self.ready and all(e.is_set() for e in self.ready.values()):
                break
        for set_name in self.sets:
            await self.queue.put(live_drift.event(live_drift.Change(set_name, None, live_drift.STARTUP, [], [])))


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    """ansible-rulebook's entry point."""
    await Agent(args, queue, asyncio.get_running_loop()).run()


if __name__ == "__main__":
    # python k8s_drift.py SET...: print the events (with the K8S_AUTH_* or ~/.kube/config credentials)
    class _Print:
        async def put(self, event):
            print(event, flush=True)

    asyncio.run(main(_Print(), {"sets": sys.argv[1:]}))
