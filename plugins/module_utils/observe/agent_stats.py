# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the event source counts for its metrics (report/metrics.py names them): per set, the drift
events it emitted and when, the objects it sees drifted now; per watched resource, its watches
connected, relists and reconnects.  Thread-safe: the watch threads and the event loop both report.

An object is drifted from the event emitted for it until the agent sees it settled: a modified object
whose drifted fields gitops.core holds again (a heal or a sync), a deleted object that is back, an
unrecorded object that its set's inventory now records, or any object deleted (a deletion that is
drift is an event of its own)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.observe import live_drift


class AgentStats(object):
    def __init__(self, clock=time.time):
        self.clock = clock
        self.lock = threading.Lock()
        self.drifted = {}     # set -> {object key: Change}
        self.events = {}      # set -> events emitted
        self.last_event = {}  # set -> time of the last one
        self.connected = {}   # resource -> watches open now
        self.relists = {}     # resource -> lists (the first, and each again)
        self.reconnects = {}  # resource -> watches that ended with an error and were opened again

    def emitted(self, change):
        """An event went on the queue."""
        with self.lock:
            self.events[change.set] = self.events.get(change.set, 0) + 1
            self.last_event[change.set] = self.clock()
            if change.ref is not None and change.change != live_drift.STARTUP:
                self.drifted.setdefault(change.set, {})[change.ref.key] = change

    def observed(self, event_type, obj, manager, tracker):
        """A watch saw `obj` (after the tracker did): settle its drift when it is settled."""
        set_name = live_drift.set_of(obj)
        with self.lock:
            board = self.drifted.get(set_name)
            if not board:
                return
            ref = ObjectRef.from_object(obj)
            change = board.get(ref.key)
            if change is None:
                return
            if event_type == "DELETED" or change.change == live_drift.DELETED:
                settled = True  # gone (its deletion is an event of its own), or back
            elif change.change == live_drift.UNRECORDED:
                settled = tracker.is_recorded(set_name, ref)
            else:
                settled = live_drift.still_drift(change, manager, live=obj) is None
            if settled:
                del board[ref.key]

    def forget_sets(self, watched):
        """Drop what is counted of the sets no longer watched."""
        with self.lock:
            for table in (self.drifted, self.events, self.last_event):
                for name in [n for n in table if n not in watched]:
                    del table[name]

    def _add(self, table, resource, n):
        with self.lock:
            table[resource] = table.get(resource, 0) + n

    def watch_opened(self, resource):
        self._add(self.connected, resource, 1)

    def watch_closed(self, resource):
        self._add(self.connected, resource, -1)

    def relisted(self, resource):
        self._add(self.relists, resource, 1)

    def reconnected(self, resource):
        self._add(self.reconnects, resource, 1)

    def samples(self, sets, watched_objects):
        """{metric name: [(labels, value)]} (report/metrics.py AGENT_METRICS) for the sets `sets`;
        `watched_objects`: {set: objects the agent sees of it}."""
        with self.lock:
            per_set = {
                "gitops_agent_watched_objects": [({"set": s}, watched_objects.get(s, 0)) for s in sets],
                "gitops_agent_drifted_objects": [({"set": s}, len(self.drifted.get(s) or ())) for s in sets],
                "gitops_agent_events_total": [({"set": s}, self.events.get(s, 0)) for s in sets],
                "gitops_agent_last_event_timestamp_seconds": [({"set": s}, self.last_event[s])
                                                              for s in sets if s in self.last_event],
            }
            per_resource = {
                "gitops_agent_watches_connected": sorted(self.connected.items()),
                "gitops_agent_relists_total": sorted(self.relists.items()),
                "gitops_agent_reconnects_total": sorted(self.reconnects.items()),
            }
        for name, values in per_resource.items():
            per_set[name] = [({"resource": resource}, n) for resource, n in values]
        return per_set
