# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One writing run at a time per set: a coordination.k8s.io/v1 Lease `gitops-set-<set>` in the
inventory namespace, taken before the plan is read and released after the inventory is written.

- Taken with a create (409: someone holds it) or, over a free or expired lease, an update that
  carries the resourceVersion read (409: someone else was quicker).  Either way exactly one run wins.
- Expiry is judged as client-go's leader election judges it, by the waiter's own clock: a lease
  whose record has not changed for its leaseDurationSeconds since this run first saw it is
  expired.  Clocks of different machines are never compared.  `Expiry` holds that judgement
  (pure), for the modules and for the event source k8s_drift.
- The holder renews every third of the duration from a background thread; a run that could not
  renew in time (or finds another holder) has lost the lease and writes nothing more.
- Released by a delete with the resourceVersion as precondition, so a lease taken over meanwhile
  is never deleted."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import socket
import threading
import time

from ansible_collections.gitops.core.plugins.module_utils.engine import inventory
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import ApiError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import MANAGED_BY, set_object_name

API = "/apis/coordination.k8s.io/v1/namespaces/%s/leases"
POLL = 1.0


def identity():
    """host/pid, plus the AWX job id when the run is an AWX job (AWX sets JOB_ID and INVENTORY_ID)."""
    who = "%s/pid-%d" % (socket.gethostname(), os.getpid())
    if os.environ.get("JOB_ID") and os.environ.get("INVENTORY_ID"):
        who += "/awx-job-%s" % os.environ["JOB_ID"]
    return who


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Expiry(object):
    """One waiter's judgement of one Lease: held by someone, it is expired once its resourceVersion
    (which every renewal changes) has stayed the same for leaseDurationSeconds by the waiter's own
    monotonic clock, counted from when this waiter first saw that resourceVersion.  Pure: the caller
    reads the Lease and passes its clock's `now`; no time of the Lease's record is read."""

    def __init__(self, expired_version=None):
        self.seen = None  # (resourceVersion, `now` when this waiter first saw it)
        self.expired_version = expired_version  # a version another waiter already judged expired (k8s_drift)

    def expired(self, resource_version, holder, duration, now):
        """Whether a Lease with this record, held by `holder` for `duration` seconds, has expired;
        a free Lease (no holder) has not: it is simply free."""
        if self.seen is None or self.seen[0] != resource_version:
            self.seen = (resource_version, now)
        if holder and self.expired_version and resource_version == self.expired_version:
            return True  # watched unchanged for its duration already: every renewal changes the version
        return bool(holder) and now - self.seen[1] >= duration

    def held(self, resource_version, holder, duration, now):
        """Whether someone holds the Lease now: a holder, and not expired."""
        return bool(holder) and not self.expired(resource_version, holder, duration, now)


class SetLock(object):
    """The Lease of one set.  `acquire()` waits up to `timeout` seconds; `release()` gives it back."""

    def __init__(self, client, namespace, set_name, duration, timeout, field_manager, expired_version=None):
        """`duration` and `timeout` are validated by the run's options (engine.Options)."""
        self.client = client
        self.namespace = namespace
        self.set_name = set_name
        self.name = set_object_name(set_name)
        self.duration = int(duration)
        self.timeout = timeout
        self.field_manager = field_manager
        self.expired_version = expired_version
        self.holder = identity()
        self.waited = 0.0
        self.took_over_from = None
        self._rv = None
        self._lease = None
        self._renewed = None  # monotonic time of the last successful write of the lease
        self._lost = None
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._thread = None

    # ------------------------------------------------------------------ requests

    def _path(self, name=None):
        return API % self.namespace + ("/" + name if name else "")

    def _spec(self, transitions, acquire_time=None):
        now = _now()
        return {"holderIdentity": self.holder, "leaseDurationSeconds": self.duration,
                "acquireTime": acquire_time or now, "renewTime": now, "leaseTransitions": transitions}

    def _create(self):
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "labels": dict(MANAGED_BY)},
                "spec": self._spec(0)}
        status, obj = self.client.request("POST", self._path(), body=body, verb="lease",
                                          what="create Lease %s/%s" % (self.namespace, self.name),
                                          ok=(201, 404, 409))
        if status == 404:  # the inventory namespace does not exist yet
            inventory.ensure_namespace(self.client, self.namespace, self.field_manager)
            return None
        return obj if status == 201 else None

    def _update(self, lease, spec):
        body = dict(lease, spec=spec)
        status, obj = self.client.request("PUT", self._path(self.name), body=body, verb="lease",
                                          what="update Lease %s/%s" % (self.namespace, self.name),
                                          ok=(200, 404, 409))
        return obj if status == 200 else None

    def _read(self):
        status, obj = self.client.request("GET", self._path(self.name), verb="lease",
                                          what="read Lease %s/%s" % (self.namespace, self.name), ok=(200, 404))
        return obj if status == 200 else None

    # ------------------------------------------------------------------ acquire, renew, release

    def acquire(self):
        started = time.monotonic()
        deadline = started + self.timeout
        expiry = Expiry(self.expired_version)
        try:
            while True:
                created = self._create()
                if created is not None and self._took(created):
                    break
                lease = self._read() if created is None else None
                if lease is not None:
                    spec = lease.get("spec") or {}
                    holder = spec.get("holderIdentity")
                    duration = spec.get("leaseDurationSeconds") or self.duration
                    expired = expiry.expired(lease["metadata"].get("resourceVersion"), holder, duration,
                                             time.monotonic())
                    if not holder or expired:
                        taken = self._update(lease, self._spec((spec.get("leaseTransitions") or 0) + 1))
                        if taken is not None and self._took(taken):
                            self.took_over_from = holder if holder and expired else None
                            break
                        continue
                    if time.monotonic() >= deadline:
                        raise GitOpsError(
                            "set '%s' is locked by another run: Lease %s/%s is held by %s (renewed %s, for %ss); "
                            "waited %ds (lock_timeout). It is released when that run ends, or %ss after it "
                            "stops renewing." % (self.set_name, self.namespace, self.name, holder,
                                                 spec.get("renewTime"), duration, int(time.monotonic() - started),
                                                 duration))
                elif time.monotonic() >= deadline:
                    raise GitOpsError("set '%s': could not create Lease %s/%s within %ds (lock_timeout)"
                                      % (self.set_name, self.namespace, self.name, self.timeout))
                time.sleep(max(0.05, min(POLL, deadline - time.monotonic())))
        except ApiError as exc:
            if exc.status == 403:
                raise GitOpsError("%s. Taking the set's lock needs get/create/update/delete on leases "
                                  "(coordination.k8s.io) in namespace %s, or lock: false" % (exc.message, self.namespace))
            raise
        self.waited = round(time.monotonic() - started, 1)
        self._thread = threading.Thread(target=self._renew_loop, name="gitops-core-lease")
        self._thread.daemon = True
        self._thread.start()
        return self

    def _took(self, lease):
        if (lease.get("spec") or {}).get("holderIdentity") != self.holder:
            return False
        with self._guard:
            self._rv = lease["metadata"]["resourceVersion"]
            self._lease = lease
            self._renewed = time.monotonic()
        return True

    def _renew_loop(self):
        while not self._stop.wait(self.duration / 3.0):
            try:
                with self._guard:
                    lease = self._lease
                spec = dict(lease.get("spec") or {}, renewTime=_now())
                renewed = self._update(lease, spec)
                if renewed is None:  # 409 or 404: someone else changed or removed it
                    current = self._read()
                    holder = ((current or {}).get("spec") or {}).get("holderIdentity")
                    self._lost = "another run (%s) took it over" % holder if holder else "it was removed"
                    return
                with self._guard:
                    self._lease, self._rv, self._renewed = renewed, renewed["metadata"]["resourceVersion"], time.monotonic()
            except GitOpsError as exc:
                if time.monotonic() - self._renewed >= self.duration:
                    self._lost = "it could not be renewed for %ss (%s)" % (self.duration, exc.message)
                    return

    def ensure(self):
        """Raise when the lease is no longer ours: nothing more may be written."""
        if self._lost is None and self._renewed is not None \
                and time.monotonic() - self._renewed >= self.duration:
            self._lost = "it was not renewed for %ss" % self.duration
        if self._lost:
            raise GitOpsError("set '%s': this run lost its lock (Lease %s/%s): %s; it stopped before writing more. "
                              "Run it again." % (self.set_name, self.namespace, self.name, self._lost))

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._lost or self._rv is None:
            return
        try:
            self.client.request("DELETE", self._path(self.name), body={"preconditions": {"resourceVersion": self._rv}},
                                verb="lease", what="release Lease %s/%s" % (self.namespace, self.name),
                                ok=(200, 202, 404, 409))
        except GitOpsError:
            pass  # it expires by itself: the next run waits at most lock_duration

    def result(self):
        return {"name": self.name, "namespace": self.namespace, "holder": self.holder,
                "waited": self.waited, "took_over_from": self.took_over_from}


class NoLock(object):
    """Check mode, read-only drift checks and `lock: false` take no lease."""

    def ensure(self):
        pass

    def release(self):
        pass

    def result(self):
        return None
