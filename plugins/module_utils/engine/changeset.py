# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of one run: a ChangeSet of Entries, each with one action, decided once by the plan.

An Entry never changes after it is made.  A later stage that learns something (the dry-run finds
an update would change nothing, prune finds an object already gone) makes a new Entry, and the
run continues with `ChangeSet.replaced()`.  What leaves a module is built from the final
ChangeSet in result.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, replace
from typing import Any, Optional, Tuple

from ansible_collections.gitops.core.plugins.module_utils.common import objref

# Actions: desired objects are created, updated, adopted (taken over from another set with the
# user's opt-in), recreated (deleted and created again: a run-once object whose content changed,
# or an update refused for an immutable field, with the opt-in), unchanged or skipped; Helm hooks
# run (lifecycle.py) or are skipped; objects that left the set are pruned, abandoned (ours, left in
# place by a guard or option, and still remembered in the inventory) or skipped.
CREATE, UPDATE, ADOPT, RECREATE, UNCHANGED = "create", "update", "adopt", "recreate", "unchanged"
RUN = "run"
PRUNE, ABANDON, SKIP = "prune", "abandon", "skip"
WRITES = (CREATE, UPDATE, ADOPT, RECREATE)


@dataclass(frozen=True, eq=False)
class Entry:
    """One object of a ChangeSet (compared and hashed by identity)."""
    ref: Any                      # objref.ObjectRef
    action: str
    body: Optional[dict] = None   # what would be applied (desired + set label + revision); None: left the set
    live: Optional[dict] = None   # the live object, or None
    resource: Any = None          # kube.Resource, or None while its CRD is not served yet
    source: Optional[str] = None  # "file, document N" when known
    reason: Optional[str] = None  # why skipped, abandoned, adopted, pruned or written without a difference
    diffs: Tuple = ()             # compare.Diff tuple (create: empty)
    owned: bool = False           # our field manager has applied this object before
    order: Tuple = ()             # order.apply_key, computed once by the plan (prune runs it reversed)
    life: Any = None              # lifecycle.Hook or lifecycle.RunOnce, or None
    stages: Tuple = ()            # a hook that runs: its stages (lifecycle.PRE, POST)
    cleanup: Tuple = ()           # a takeover: the deploy tools whose managed-field entries are dropped

    @property
    def desired(self):
        return self.body is not None

    @property
    def where(self):
        return objref.where(self.ref, self.source)

    def but(self, **changes):
        """A new Entry like this one with `changes` (action, reason, live...)."""
        return replace(self, **changes)


class ChangeSet(object):
    """Every desired object and every object that left the set, plus what the inventory recorded
    before the run."""

    def __init__(self, entries, inventory):
        self.entries = list(entries)
        self.inventory = inventory  # inventory.Record (refs, abandoned, revision, configmap)

    def by_action(self, *actions):
        return [e for e in self.entries if e.action in actions]

    def desired(self):
        return [e for e in self.entries if e.desired]

    def writes(self):
        return self.by_action(*WRITES)

    def replaced(self, new):
        """The same ChangeSet with some entries replaced: `new` maps an old Entry to its successor."""
        if not new:
            return self
        return ChangeSet([new.get(e, e) for e in self.entries], self.inventory)


def error_entry(entry, **fields):
    """One object of an error's details (`failures`, `conflicts`, `violations`): its ref and source, plus `fields`."""
    return dict({"ref": str(entry.ref), "source": entry.source}, **fields)
