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
    dropped if that run already put things back. A Lease left by a killed run does not hold them
    for long - it is expired, as the modules judge it, once its resourceVersion has not changed for
    its leaseDurationSeconds by this process's clock. A set's events wait together, in the event loop
    (no thread is held while they wait), for at most 300 s.
  - Events are debounced per object (a burst of edits is one event) and carry the set, the object,
    the kind of change, the managers and the field paths - never a value, Secrets included.
  - Watches run in threads with resourceVersion and bookmarks, relist page by page at once on 410
    Gone and reconnect with backoff (1 s doubling to 30 s, reset after a healthy watch) when the API
    server goes away (a relist then reports what changed meanwhile); the event loop is never blocked.
    A cluster-scoped kind is watched once, cluster-wide; a kind no inventory records any more is no
    longer watched.
  - At start, one C(startup) event per set (turn off with O(startup_events=false)), so the rulebook
    can run one drift check for drift that happened while nothing watched.
  - Takes the cluster options of the collection's modules (kubeconfig, context, host, api_key,
    certificates, proxy, impersonation), each also read from its C(K8S_AUTH_*) variable.
options:
  sets:
    description:
      - The sets to watch (their set_name). One of O(sets) and O(declaration) is required.
    type: list
    elements: str
  declaration:
    description:
      - Watch every set a sets declaration runs (docs/sets.md) - those its record, the ConfigMap
        C(gitops-sets-<declaration>) in O(inventory_namespace), lists and has not abandoned - besides O(sets).
      - The record is watched too - a set a sync adds to the declaration is watched from then on, a set removed
        from it no longer is - without restarting the rulebook. The objects and inventories of every set are then
        watched by the set label's presence and kept by the set (one watch per kind, whatever the number of sets).
      - A declared set whose inventory lives in another namespace than O(inventory_namespace) (a tenant's) is not
        watched by this source; run one source per inventory namespace.
    type: str
  inventory_namespace:
    description: Where the sets' inventories and Leases live (the modules' default).
    type: str
    default: gitops-system
  field_manager:
    description: The field manager the sets apply with (the modules' default).
    type: str
    default: gitops-core
  api_retries:
    description: Retries of a failed API request (429, 5xx, connection errors), as in the modules.
    type: int
    default: 5
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
  metrics_port:
    description:
      - Serve Prometheus metrics on this port (C(/metrics), prometheus-client) - per set, the objects watched,
        drifted now, events emitted and the last event's time; per watched resource, the watches connected,
        relists and reconnects; and per set, from its inventory's status (read at each scrape, at most every
        10 s), its revision, last sync time, result and duration, last drift check, and whether a run holds its
        Lease. docs/observability.md names each. V(0) (the default) serves none.
    type: int
    default: 0
  metrics_address:
    description: The address the metrics are served on.
    type: str
    default: 0.0.0.0
notes:
  - The event is C({"gitops" {"set", "change" (modified, deleted, unrecorded, startup), "ref", "object"
    {group, version, kind, namespace, name}, "managers", "fields"}}), plus C(lease_expired) (the
    resourceVersion of the set's Lease, judged expired, as a killed run leaves it) when the check waited
    for such a Lease; the drift rulebook hands it to the run as C(lock_expired_version).
  - Needs list and watch on the sets' kinds, and get, list and watch on ConfigMaps and Leases in the
    inventory namespace (docs/rbac.md).
  - The defaults of O(inventory_namespace), O(field_manager) and O(api_retries) are the modules' own
    (set_args.set_argument_spec); a Lease without leaseDurationSeconds counts as held for the
    modules' default C(lock_duration) (60 s).
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
from typing import Any, Callable

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

from ansible_collections.gitops.core.plugins.module_utils.cluster import auth_args, kube, kubeconfig, set_args  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.engine import declaration, inventory, lease  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.jobs import set_info  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.report import metrics  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.observe import live_drift  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.observe.agent_stats import AgentStats  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.cluster.discovery import Discovery  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (  # noqa: E402
    DECLARATION_LABEL, INVENTORY_LABEL, SET_LABEL, set_object_name)

try:
    from urllib3.exceptions import HTTPError as _TransportError  # a watch stream cut mid-way raises it
except ImportError:  # kubeconfig.load() says what to install
    class _TransportError(Exception):
        """Stands in for urllib3's error type."""

LOG = logging.getLogger("gitops.core.k8s_drift")
LEASES = kube.Resource("coordination.k8s.io", "v1", "Lease", "leases", True, ())
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0
HEALTHY_AFTER = 10.0  # a watch up this long, or one that delivered an event, was healthy: the backoff starts again
LEASE_WAIT = 300.0    # the longest a set's events wait for a Lease its holder keeps renewing
LEASE_POLL = 0.5
STARTUP_WAIT = 60.0
INVENTORY_SCRAPE = 10.0  # a scrape reads the inventories at most this often
# The modules' defaults, from their one definition (the DOCUMENTATION above repeats them for the reader).
_SPEC = set_args.set_argument_spec()
DEFAULTS = {name: _SPEC[name]["default"] for name in ("inventory_namespace", "field_manager", "api_retries",
                                                      "lock_duration")}
# What a watch meets when the API server goes away or answers an error: one line and a retry.  Anything
# else is a bug of ours and is logged with its traceback.
EXPECTED = (GitOpsError, OSError, _TransportError)


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
    retries = args.get("api_retries")
    params["api_retries"] = int(DEFAULTS["api_retries"] if retries in (None, "") else retries)
    return params


class _Attempt(object):
    """One pass of a watch loop's body: when it started (the agent's clock) and whether its watch
    delivered an event; the loop judges from it whether the watch was healthy."""

    def __init__(self, started: float):
        self.started = started
        self.delivered = False


class Agent:
    """The watches of one source and the queue they feed."""

    def __init__(self, args: dict[str, Any], queue: asyncio.Queue, loop: asyncio.AbstractEventLoop):
        sets = args.get("sets") or []
        if isinstance(sets, str):
            sets = [sets]
        self.declaration = args.get("declaration") or None
        if not sets and not self.declaration:
            raise GitOpsError("gitops.core.k8s_drift: `sets` names no set and no `declaration` is given")
        self.given = frozenset(sets)
        self.sets = sorted(self.given)      # the sets watched now: `sets`, and those the declaration records
        self.declared = threading.Event()   # the declaration's record was read once (set at once without one)
        if not self.declaration:
            self.declared.set()
        self.seen_inventories = {}          # set name -> refs of every inventory seen (a set declared later)
        self.queue, self.loop = queue, loop
        self.inventory_namespace = args.get("inventory_namespace") or DEFAULTS["inventory_namespace"]
        self.manager = args.get("field_manager") or DEFAULTS["field_manager"]
        self.namespaces = list(args.get("namespaces") or []) or [None]
        self.debounce = float(args.get("debounce", 1.0))
        self.startup_events = bool(args.get("startup_events", True))
        self.watch_timeout = int(args.get("watch_timeout", 300))
        self.metrics_port = int(args.get("metrics_port") or 0)
        self.metrics_address = args.get("metrics_address") or "0.0.0.0"
        self.stats = AgentStats()
        self._status_cache = None           # (when, the watched sets' set_info entries): the scrape's
        self.params = auth_params(args)
        if self.params["api_retries"] < 0:
            raise GitOpsError("gitops.core.k8s_drift: api_retries must not be negative")
        self.tracker = live_drift.Tracker(self.sets, self.manager)
        self.lock = threading.Lock()        # the tracker, kinds, watched and ready: shared by the threads and the loop
        self.stopping = threading.Event()
        self.kinds = {}                     # set name -> {(group, version, kind)} its inventory records
        self.watched = {}                   # (group, version, kind) -> threading.Event that stops its watches
        self.ready = {}                     # ((group, version, kind), namespace) -> threading.Event: first list done
        # the event loop's alone
        self.pending = {}                   # object key -> (Change, timer handle): the debounce
        self.batches = {}                   # set name -> {object key: Change} debounced, waiting for the set's check
        self.checking = {}                  # set name -> the one task checking that set's batch
        self.expiry = {}                    # set name -> lease.Expiry: this process's judgement of the set's Lease
        # cluster access: the credentials loaded once, one shared client and one Discovery per agent
        self.client_lock = threading.RLock()
        self.discovery_lock = threading.Lock()
        self._settings = None
        self._shared = None
        self._discovery = None
        self.resources = {}                 # (group, version, kind) -> kube.Resource the cluster serves
        # seams for the tests: the clock and the sleeps
        self._monotonic = time.monotonic
        self._sleep = lambda stop, seconds: stop.wait(seconds)  # a thread's sleep, cut short by `stop`
        self._async_sleep = asyncio.sleep

    # ------------------------------------------------------------------ cluster access (threads)
    def _new_client(self) -> kube.Client:
        """A client of its own (a watch's: a watch holds its connection for minutes), made from the
        credentials loaded once per agent: an exec credential plugin runs once, not per client (the
        kubernetes package refreshes its token when it expires)."""
        with self.client_lock:
            if self._settings is None:
                self._settings = kubeconfig.load(self.params)
            settings = self._settings
        return kube.Client(settings, parallelism=4, retries=self.params["api_retries"])

    def client(self) -> kube.Client:
        """The agent's one client for the inventories, the Lease reads, discovery and the checks."""
        with self.client_lock:
            if self._shared is None:
                self._shared = self._new_client()
            return self._shared

    def _discard(self, client: kube.Client) -> None:
        """Close a client an Unreachable spoiled (it fails every later request at once); the shared
        client is made again at its next use."""
        with self.client_lock:
            if self._shared is client:
                self._shared = None
        client.close()

    def _call(self, fn: Callable[[kube.Client], Any]) -> Any:
        """fn(the shared client); an Unreachable discards that client, then is raised."""
        client = self.client()
        try:
            return fn(client)
        except kube.Unreachable:
            self._discard(client)
            raise

    def _resource(self, gvk) -> kube.Resource | None:
        """The Resource of (group, version, kind), or None when the cluster does not serve it: one
        Discovery per agent, read again on a miss (a CRD may be new)."""
        with self.discovery_lock:
            if gvk not in self.resources:
                client = self.client()
                if self._discovery is None:
                    self._discovery = Discovery(client)
                self._discovery.client = client  # the shared client may have been made again
                res = self._discovery.resource(*gvk, refresh_on_miss=False)
                if res is None:
                    self._discovery.discover(refresh=True)
                    res = self._discovery.resource(*gvk, refresh_on_miss=False)
                if res is None:
                    return None
                self.resources[gvk] = res
            return self.resources[gvk]

    def _loop_until_stopped(self, what: str, body, stop: threading.Event, shared: bool = False) -> None:
        """Run `body(client, attempt)` (it lists, then watches until `stop` is set) again and again:
        at once after a 410 Gone (its resourceVersion is too old: relist), after a backoff otherwise
        (1 s doubling to 30 s while the API server is away), the backoff back at 1 s after a healthy
        watch (one that delivered an event or lasted HEALTHY_AFTER seconds).  A 410 straight after the
        relist of an earlier 410 backs off too: a relist never spins.  A watch has a client of its
        own (`shared`: the agent's), replaced only when an Unreachable spoiled it, closed at the end."""
        delay, gone_before, client = BACKOFF_MIN, False, None
        try:
            while not stop.is_set():
                attempt, error = _Attempt(self._monotonic()), None
                try:
                    if client is None:
                        client = self.client() if shared else self._new_client()
                    body(client, attempt)
                    continue  # the watch ended because `stop` is set
                except Exception as exc:  # the API server away, a 410, a bad answer, or a bug of ours
                    error = exc
                if attempt.delivered or self._monotonic() - attempt.started >= HEALTHY_AFTER:
                    delay, gone_before = BACKOFF_MIN, False
                if not stop.is_set():
                    self.stats.reconnected(what.split(" ", 1)[-1])
                if isinstance(error, kube.ApiError) and error.status == 410 and not gone_before:
                    LOG.info("gitops.core.k8s_drift: %s: 410 Gone (resourceVersion too old); relisting at once", what)
                    gone_before = True
                    continue
                gone_before = False
                if isinstance(error, kube.Unreachable) and client is not None:
                    self._discard(client)
                    client = None
                if isinstance(error, EXPECTED):
                    LOG.warning("gitops.core.k8s_drift: %s: %s; retrying in %.0fs", what, error, delay)
                else:
                    LOG.error("gitops.core.k8s_drift: %s failed unexpectedly; retrying in %.0fs", what, delay,
                              exc_info=error)
                self._sleep(stop, delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)
        finally:
            if client is not None and not shared:
                client.close()

    def _selector(self, label: str) -> str:
        """The label selector of the sets' objects or inventories: the named sets, or - with a declaration,
        whose sets change while the watches run - every set (the tracker keeps those watched)."""
        return label if self.declaration else "%s in (%s)" % (label, ",".join(self.sets))

    def _declaration_watch(self, client: kube.Client, attempt: _Attempt) -> None:
        """List and watch the declaration's record (ConfigMap gitops-sets-<name>): its sets are watched."""
        selector = "%s=%s" % (DECLARATION_LABEL, self.declaration)
        version = None
        self.stats.relisted("the declaration")
        for items, version in client.pages_for_watch(kube.CONFIG_MAPS, self.inventory_namespace, selector):
            self._declared_sets(items[0] if items else None)
        self.declared.set()
        self.stats.watch_opened("the declaration")
        try:
            for event_type, cm in client.watch_collection(kube.CONFIG_MAPS, self.inventory_namespace, selector, version,
                                                          self.watch_timeout, self.stopping):
                attempt.delivered = True
                self._declared_sets(None if event_type == "DELETED" else cm)
        finally:
            self.stats.watch_closed("the declaration")

    def _declared_sets(self, cm: dict | None) -> None:
        """Watch the sets `cm` (a declaration's record) lists, and `sets`; stop watching the others."""
        record = declaration.parse(cm) if cm else {}
        here = dict((name, r) for name, r in record.items()  # a set whose inventory this agent can read
                    if (r.get("inventory_namespace") or self.inventory_namespace) == self.inventory_namespace)
        wanted = set(self.given) | set(declaration.declared(here))
        with self.lock:
            added, removed = sorted(wanted - self.tracker.sets), sorted(self.tracker.sets - wanted)
            self.tracker.sets.clear()
            self.tracker.sets.update(wanted)
            self.sets = sorted(wanted)
            seen = dict((name, self.seen_inventories.get(name)) for name in added)
        for set_name in removed:
            self._record(set_name, [])
            self.kinds.pop(set_name, None)
        for set_name in added:
            if seen[set_name] is not None:
                self._record(set_name, seen[set_name])
        self.stats.forget_sets(wanted)

    def _inventories(self, client: kube.Client, attempt: _Attempt) -> None:
        """List and watch the sets' inventory ConfigMaps; watch the kinds they record.  An inventory a
        relist no longer shows was deleted while the watch was away."""
        selector = self._selector(INVENTORY_LABEL)
        listed, version = set(), None
        self.stats.relisted("inventories")
        for items, version in client.pages_for_watch(kube.CONFIG_MAPS, self.inventory_namespace, selector):
            for cm in items:
                listed.add(self._inventory_changed("ADDED", cm))
        with self.lock:
            gone = sorted(s for s in self.tracker.recorded if s not in listed)
        for set_name in gone:
            self._record(set_name, [])
        self.stats.watch_opened("inventories")
        try:
            for event_type, cm in client.watch_collection(kube.CONFIG_MAPS, self.inventory_namespace, selector, version,
                                                          self.watch_timeout, self.stopping):
                attempt.delivered = True
                self._inventory_changed(event_type, cm)
        finally:
            self.stats.watch_closed("inventories")

    def _inventory_changed(self, event_type: str, cm: dict) -> str | None:
        """Record one inventory (its set's name, or None for another set's)."""
        set_name = ((cm.get("metadata") or {}).get("labels") or {}).get(INVENTORY_LABEL)
        refs = [] if event_type == "DELETED" else inventory.parse(cm).refs
        with self.lock:
            if self.declaration:  # kept for a set the declaration lists later
                self.seen_inventories[set_name] = refs
            watched = set_name in self.tracker.sets
        if not watched:
            return None
        self._record(set_name, refs)
        return set_name

    def _record(self, set_name: str, refs) -> None:
        """Record what a set's inventory holds; start watching the kinds it adds, stop watching those no
        set records any more."""
        with self.lock:
            self.tracker.record_inventory(set_name, refs)
            self.kinds[set_name] = set((r.group, r.version, r.kind) for r in refs)
            wanted = set().union(*self.kinds.values())
            dropped, added = sorted(set(self.watched) - wanted), sorted(wanted - set(self.watched))
        for gvk in dropped:
            self._unwatch_kind(gvk)
        for gvk in added:
            self._watch_kind(gvk)

    def _watch_kind(self, gvk) -> None:
        res = self._resource(gvk)
        if res is None:
            LOG.warning("gitops.core.k8s_drift: the cluster does not serve %s/%s %s", *gvk)
            return
        stop = threading.Event()
        namespaces = self.namespaces if res.namespaced else [None]  # a cluster-scoped kind: one watch, cluster-wide
        with self.lock:
            if self.stopping.is_set():
                return
            self.watched[gvk] = stop
            for namespace in namespaces:
                self.ready[(gvk, namespace)] = threading.Event()
        for namespace in namespaces:
            self._start_watch("watch %s" % res.plural, lambda c, a, r=res, n=namespace: self._objects(c, a, r, n, stop),
                              stop, "k8s_drift %s %s" % (res.plural, namespace or "*"))

    def _start_watch(self, what: str, body, stop: threading.Event, name: str) -> None:
        """One watch loop in a thread of its own (daemon: it never holds the process up)."""
        threading.Thread(target=self._loop_until_stopped, args=(what, body, stop), name=name, daemon=True).start()

    def _unwatch_kind(self, gvk) -> None:
        """No inventory records the kind any more: its watches end (at their next event or renewal,
        watch_timeout at the latest) and what they saw is forgotten."""
        with self.lock:
            stop = self.watched.pop(gvk, None)
            for key in [k for k in self.ready if k[0] == gvk]:
                del self.ready[key]
            if not any((g, k) == (gvk[0], gvk[2]) for g, _v, k in self.watched):  # no other version watched
                self.tracker.forget(gvk[0], gvk[2])
        if stop is not None:
            LOG.info("gitops.core.k8s_drift: no inventory records %s/%s %s any more; its watch stops", *gvk)
            stop.set()

    def _objects(self, client: kube.Client, attempt: _Attempt, res, namespace, stop: threading.Event) -> None:
        """List, then watch, the sets' objects of one resource in `namespace` (None: everywhere); a relist
        reports what changed while away.  The list is read page by page, each page done with before
        the next is read: a relist of a large collection never holds it whole."""
        selector = self._selector(SET_LABEL)
        listed, version = set(), None
        self.stats.relisted(res.plural)
        for items, version in client.pages_for_watch(res, namespace, selector):
            for obj in items:
                listed.add(ObjectRef.from_object(obj).key)
                with self.lock:
                    change = self.tracker.observe("MODIFIED", obj, listed=True)
                self.stats.observed("MODIFIED", obj, self.manager, self.tracker)
                self._emit(change)
        with self.lock:
            gone = self.tracker.relisted(res, namespace, listed)
            ready = self.ready.get(((res.group, res.version, res.kind), namespace))
        for change in gone:  # deleted while the watch was away
            self._emit(change)
        if ready is not None:
            ready.set()
        self.stats.watch_opened(res.plural)
        try:
            for event_type, obj in client.watch_collection(res, namespace, selector, version, self.watch_timeout, stop):
                if stop.is_set():  # unwatched (no inventory records the kind now): what it saw was forgotten
                    return
                attempt.delivered = True
                with self.lock:
                    change = self.tracker.observe(event_type, obj)
                self.stats.observed(event_type, obj, self.manager, self.tracker)
                self._emit(change)
        finally:
            self.stats.watch_closed(res.plural)

    # ------------------------------------------------------------------ debounce and checks (event loop)
    def _emit(self, change) -> None:
        if change is not None and not self.stopping.is_set():
            LOG.debug("gitops.core.k8s_drift: %s %s %s", change.change, change.ref, change.fields)
            try:
                self.loop.call_soon_threadsafe(self._pend, change)
            except RuntimeError:  # the event loop closed under a watch thread: shutting down
                pass

    def _pend(self, change) -> None:
        key = change.ref.key
        if key in self.pending:
            earlier, handle = self.pending[key]
            handle.cancel()
            change = live_drift.merge(earlier, change)
        self.pending[key] = (change, self.loop.call_later(self.debounce, self._flush, key))

    def _flush(self, key) -> None:
        """An object's debounce window ended: its change joins its set's batch, which the set's one
        check task takes (started here when none runs)."""
        change, _handle = self.pending.pop(key, (None, None))
        if change is None:
            return
        batch = self.batches.setdefault(change.set, {})
        batch[key] = live_drift.merge(batch[key], change) if key in batch else change
        if change.set not in self.checking:
            self.checking[change.set] = self.loop.create_task(self._check(change.set))

    async def _check(self, set_name: str) -> None:
        """Check a set's batch, one round after another while changes come: wait while the set's Lease
        is held, drop what that run settled, put the rest on the queue.  One task per set, so a set
        has one wait at a time, however many of its objects changed."""
        try:
            while self.batches.get(set_name) and not self.stopping.is_set():
                expired = await self._lease_wait(set_name)
                changes = list(self.batches.pop(set_name, {}).values())
                try:
                    checked = await asyncio.to_thread(self._recheck, set_name, changes)
                except Exception:  # a bug of ours: report what was seen
                    LOG.exception("gitops.core.k8s_drift: could not re-check the changes of set %s", set_name)
                    checked = changes
                for seen, change in zip(changes, checked):
                    if change is not None:
                        await self.queue.put(live_drift.event(change, lease_expired=expired))
                        self.stats.emitted(change)
                    else:
                        LOG.info("gitops.core.k8s_drift: %s settled by gitops.core meanwhile; no event", seen.ref)
        finally:
            self.checking.pop(set_name, None)

    def _read_lease(self, set_name: str) -> dict | None:
        return self._call(lambda client: client.get(LEASES, self.inventory_namespace, set_object_name(set_name)))

    def _lease_held(self, set_name: str, held: dict | None, now: float) -> bool:
        """Whether the set's Lease as read (`held`; None: there is none) holds its events at `now`: a
        holder, and not expired as the modules judge it (engine/lease.py Expiry: its resourceVersion
        unchanged for leaseDurationSeconds by this process's clock).  One judgement per set, kept
        across checks: a Lease a killed run left holds the first check at most its duration, the
        next ones not at all."""
        if not held:
            return False
        spec = held.get("spec") or {}
        expiry = self.expiry.setdefault(set_name, lease.Expiry())
        return expiry.held((held.get("metadata") or {}).get("resourceVersion"), spec.get("holderIdentity"),
                           spec.get("leaseDurationSeconds") or DEFAULTS["lock_duration"], now)

    async def _lease_wait(self, set_name: str) -> str | None:
        """Wait while a gitops.core run holds the set's Lease (a sync or heal runs), at most LEASE_WAIT.
        The wait is the event loop's: between two reads of the Lease (each a short call in a thread)
        it sleeps in asyncio, so a waiting set holds no thread of the pool.  Returns the Lease's
        resourceVersion when it is held but judged expired (a killed run left it): the events carry it
        as `lease_expired`, and the heal run given it takes that Lease over at once (lock_expired_version)
        instead of waiting the duration again by its own clock."""
        give_up = self._monotonic() + LEASE_WAIT
        while not self.stopping.is_set():
            try:
                held = await asyncio.to_thread(self._read_lease, set_name)
            except Exception as exc:  # the API server away: the check reports what was seen
                LOG.warning("gitops.core.k8s_drift: could not read the Lease of set %s: %s", set_name, exc,
                            exc_info=not isinstance(exc, EXPECTED))
                return None
            now = self._monotonic()
            holder = ((held or {}).get("spec") or {}).get("holderIdentity")
            if not self._lease_held(set_name, held, now):
                if holder:
                    LOG.info("gitops.core.k8s_drift: the Lease of set %s (held by %s) was not renewed for its "
                             "duration: expired, as a killed run leaves it; checking", set_name, holder)
                    return (held.get("metadata") or {}).get("resourceVersion")
                return None
            if now >= give_up:
                LOG.warning("gitops.core.k8s_drift: the Lease of set %s is still held by %s after %ds; checking",
                            set_name, holder, LEASE_WAIT)
                return None
            await self._async_sleep(LEASE_POLL)

    def _recheck(self, set_name: str, changes: list) -> list:
        """Each change as it stands now (None: settled by a gitops.core run, live_drift.still_drift):
        the set's inventory read once for the deletions, each modified object read again.  When the
        API server is away, what was seen is reported."""
        out, recorded, away = [], None, None
        for change in changes:
            if away is not None:
                out.append(change)
                continue
            try:
                live = None
                if change.change == live_drift.DELETED and recorded is None:
                    record = self._call(lambda client: inventory.read(client, self.inventory_namespace, set_name))
                    recorded = set(r.key for r in record.refs)
                elif change.change == live_drift.MODIFIED:
                    ref = change.ref
                    res = self._resource((ref.group, ref.version, ref.kind))
                    live = self._call(lambda client: client.get(res, ref.namespace, ref.name)) if res else None
                out.append(live_drift.still_drift(change, self.manager, live, recorded))
            except Exception as exc:  # the API server away: report what was seen
                LOG.warning("gitops.core.k8s_drift: could not re-check %s: %s", change.ref, exc,
                            exc_info=not isinstance(exc, EXPECTED))
                away = exc if isinstance(exc, kube.Unreachable) else None
                out.append(change)
        return out

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        if self.metrics_port:
            serve_metrics(self)
        if self.declaration:
            threading.Thread(target=self._loop_until_stopped, daemon=True, name="k8s_drift declaration",
                             args=("watch the declaration", self._declaration_watch, self.stopping, True)).start()
        threading.Thread(target=self._loop_until_stopped, daemon=True, name="k8s_drift inventories",
                         args=("watch inventories", self._inventories, self.stopping, True)).start()
        try:
            if self.startup_events:
                await self._startup()
            while True:
                await asyncio.sleep(3600)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        """Stop every watch, cancel the debounce timers and the checks, close the agent's client (each
        watch closes its own as its thread ends)."""
        self.stopping.set()
        with self.lock:
            stops = list(self.watched.values())
        for stop in stops:
            stop.set()
        for _change, handle in self.pending.values():
            handle.cancel()
        self.pending.clear()
        for task in list(self.checking.values()):
            task.cancel()
        with self.client_lock:
            client, self._shared = self._shared, None
        if client is not None:
            client.close()

    async def _startup(self) -> None:
        """One `startup` event per set once each recorded kind has been listed (or after 60 s)."""
        deadline = self._monotonic() + STARTUP_WAIT
        while self._monotonic() < deadline:
            await self._async_sleep(0.2)
            with self.lock:  # the watch threads add to `ready`
                known = self.declared.is_set() and all(s in self.tracker.recorded for s in self.sets)
                ready = list(self.ready.values())
            if known and ready and all(e.is_set() for e in ready):
                break
        with self.lock:
            names = list(self.sets)
        for set_name in names:
            change = live_drift.Change(set_name, None, live_drift.STARTUP, [], [])
            await self.queue.put(live_drift.event(change))
            self.stats.emitted(change)

    # ------------------------------------------------------------------ metrics (the scrape's thread)
    def metric_samples(self) -> dict:
        """{metric name: [(labels, value)]}: the agent's own counts, and each watched set's status from its
        inventory (report/metrics.py), read at most every INVENTORY_SCRAPE seconds."""
        with self.lock:
            sets = list(self.sets)
            watched = {}
            for set_name, _snapshot in self.tracker.owned.values():
                watched[set_name] = watched.get(set_name, 0) + 1
        samples = self.stats.samples(sets, watched)
        now = self._monotonic()
        if self._status_cache is None or now - self._status_cache[0] >= INVENTORY_SCRAPE:
            try:
                entries = self._call(lambda client: set_info.read(client, [self.inventory_namespace]))
                self._status_cache = (now, [e for e in entries if e["name"] in sets])
            except Exception as exc:  # the API server away: the agent's own metrics still answer
                LOG.warning("gitops.core.k8s_drift: metrics: could not read the inventories: %s", exc,
                            exc_info=not isinstance(exc, EXPECTED))
        if self._status_cache is not None:
            samples.update(metrics.set_samples(self._status_cache[1]))
        return samples


def serve_metrics(agent: Agent) -> None:
    """Serve the agent's metrics on its metrics_port (prometheus-client's HTTP server, in a thread of its own)."""
    try:
        from prometheus_client import start_http_server
        from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
    except ImportError:
        raise GitOpsError("gitops.core.k8s_drift: metrics_port needs the prometheus-client package (pip install "
                          "prometheus-client) in the decision environment")

    class Collector(object):
        def collect(self):
            for name, values in agent.metric_samples().items():
                kind, text = metrics.ALL[name]
                labels = sorted(values[0][0]) if values else []
                family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(name, text, labels=labels)
                for given, value in values:
                    family.add_metric([str(given[k]) for k in labels], value)
                yield family

    registry = CollectorRegistry()
    registry.register(Collector())
    start_http_server(agent.metrics_port, addr=agent.metrics_address, registry=registry)
    LOG.info("gitops.core.k8s_drift: metrics on http://%s:%d/metrics", agent.metrics_address, agent.metrics_port)


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    """ansible-rulebook's entry point."""
    await Agent(args, queue, asyncio.get_running_loop()).run()


if __name__ == "__main__":
    # python k8s_drift.py SET...: print the events (with the K8S_AUTH_* or ~/.kube/config credentials);
    class _Print:
        async def put(self, event):
            print(event, flush=True)

    # python k8s_drift.py --declaration NAME [SET...]: every set of a declaration, and the sets named
    if sys.argv[1:2] == ["--declaration"]:
        asyncio.run(main(_Print(), {"declaration": sys.argv[2], "sets": sys.argv[3:]}))
    else:
        asyncio.run(main(_Print(), {"sets": sys.argv[1:]}))
