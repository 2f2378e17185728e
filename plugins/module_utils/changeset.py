# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one result shape of gitops.core: a ChangeSet of Entries, each with one action.

k8s_reconcile, drift_check, the roles and the reports all read this shape.  Every object is
reported with the same keys (`ref`, `action`, `source`, `reason`, `diffs`); drift_check's
`status` is derived from the action here and nowhere else."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils import compare

# Actions: desired objects are created, updated, adopted (taken over from another set with the
# user's opt-in), unchanged or skipped; objects that left the set are pruned, abandoned (ours,
# left in place by a guard or option, and still remembered in the inventory) or skipped.
CREATE, UPDATE, ADOPT, UNCHANGED = "create", "update", "adopt", "unchanged"
PRUNE, ABANDON, SKIP = "prune", "abandon", "skip"
WRITES = (CREATE, UPDATE, ADOPT)

# drift_check's statuses, derived from the action by status_of().
IN_SYNC, MODIFIED, MISSING, ORPHANED = "in_sync", "modified", "missing", "orphaned"


class Entry(object):
    """One object of a ChangeSet."""

    def __init__(self, ref, action=None, body=None, live=None, resource=None, source=None, reason=None,
                 diffs=None):
        self.ref = ref
        self.action = action
        self.body = body          # what would be applied (desired + set label + revision); None: left the set
        self.live = live          # the live object, or None
        self.resource = resource  # kube.Resource, or None while its CRD is not served yet
        self.source = source      # "file, document N" when known
        self.reason = reason      # why skipped, abandoned, adopted or pruned
        self.diffs = diffs or []  # compare.Diff list (create: empty)
        self.owned = False        # our field manager has applied this object before
        self.result = None        # the dry-run or apply result

    @property
    def desired(self):
        return self.body is not None

    @property
    def where(self):
        return "%s (%s)" % (self.ref, self.source) if self.source else str(self.ref)


class ChangeSet(object):
    """The plan of one run: every desired object and every object that left the set, plus what
    the inventory recorded before the run."""

    def __init__(self, entries, inventory):
        self.entries = entries
        self.inventory = inventory  # inventory.Record (refs, abandoned, revision, configmap)

    def by_action(self, *actions):
        return [e for e in self.entries if e.action in actions]

    def desired(self):
        return [e for e in self.entries if e.desired]

    def writes(self):
        return self.by_action(*WRITES)


def status_of(entry):
    """drift_check's status of one entry, or None when the entry is not reported (skipped)."""
    if entry.action == SKIP:
        return None
    if not entry.desired:
        return ORPHANED if entry.action in (PRUNE, ABANDON) else None
    if entry.action == CREATE:
        return MISSING
    if entry.action in (UPDATE, ADOPT) and entry.diffs:
        return MODIFIED
    return IN_SYNC


def entry_result(entry):
    """The plain-data form of one entry, the same in every module's `objects`."""
    return {"ref": str(entry.ref), "action": entry.action, "source": entry.source, "reason": entry.reason,
            "diffs": compare.describe(entry.diffs, entry.ref.kind) if entry.action in (UPDATE, ADOPT) else []}


def skipped(changeset):
    """Objects left alone, each with the reason (the result key `skipped_objects`)."""
    return [{"object": str(e.ref), "action": e.action, "reason": e.reason}
            for e in changeset.by_action(SKIP, ABANDON)]
