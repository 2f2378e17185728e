# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads shared by the sets of one run (one client): the plan of each set asks here for the live
objects of a kind carrying its set label and for its inventory, and the first set to ask makes one
LIST for every set of the run (label selector `gitops.core/set in (...)`, inventories by their
label), so that an unchanged run of many sets costs one LIST per kind and per inventory
namespace, not one per set.

What is read here is read before a set takes its Lease: a set reads it only to learn whether it has
anything to write (jobs/sets.py); a set that has, takes its Lease and plans again from fresh reads."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import INVENTORY_LABEL, SET_LABEL

SELECTOR_NAMES = 100  # set names per label selector (one LIST each): a selector stays a few kilobytes


class SharedReads(object):
    """One LIST per (resource) and per inventory namespace for all `set_names`, each made once, on
    first use, and split by set."""

    def __init__(self, client, set_names):
        self.client = client
        names = sorted(set(set_names))
        self._chunks = [names[i:i + SELECTOR_NAMES] for i in range(0, len(names), SELECTOR_NAMES)]
        self._lock = threading.Lock()
        self._slots = {}  # key -> _Slot

    def _slot(self, key, read):
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot(read)
        return slot.get()

    def objects(self, res, set_name):
        """The live objects of `res` labelled with `set_name` (ApiError as the LIST raised it: a
        403 makes the caller list per namespace, as a set alone does)."""
        def read():
            by_set = {}
            for chunk in self._chunks:
                selector = "%s in (%s)" % (SET_LABEL, ",".join(chunk))
                for obj in self.client.list(res, label_selector=selector):
                    labels = (obj.get("metadata") or {}).get("labels") or {}
                    by_set.setdefault(labels.get(SET_LABEL), []).append(obj)
            return by_set
        return list(self._slot(("objects", res.group, res.version, res.plural), read).get(set_name, ()))

    def inventory(self, namespace, set_name):
        """The inventory ConfigMap of `set_name` in `namespace`, or None."""
        def read():
            out = {}
            for chunk in self._chunks:
                selector = "%s in (%s)" % (INVENTORY_LABEL, ",".join(chunk))
                for cm in self.client.list(CONFIG_MAPS, namespace=namespace, label_selector=selector):
                    out[((cm.get("metadata") or {}).get("labels") or {}).get(INVENTORY_LABEL)] = cm
            return out
        return self._slot(("inventory", namespace), read).get(set_name)


class _Slot(object):
    """One read, made by the first caller; the others wait for it and get its result (or its error)."""

    def __init__(self, read):
        self._read = read
        self._done = threading.Event()
        self._started = threading.Lock()
        self._value = self._error = None

    def get(self):
        if self._started.acquire(False):
            try:
                self._value = self._read()
            except Exception as exc:  # every caller gets the same error (GitOpsError, ApiError)
                self._error = exc
            finally:
                self._done.set()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value
