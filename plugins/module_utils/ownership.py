# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ownership between sets.  A live object belongs to the set its `gitops.core/set` label names;
an object without that label belongs to a set whose inventory (in the same inventory namespace)
records it.  A set never takes another set's object unless the user opts in, with the option
`adopt: true` for the run or the annotation `gitops.core/adopt: "true"` on the object in Git;
the takeover is then the entry's action `adopt`, shown in the plan, the result and check mode.
Without the opt-in the run fails before any write, naming each object and both sets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils import inventory
from ansible_collections.gitops.core.plugins.module_utils.changeset import ADOPT, SKIP, UPDATE
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.objref import SET_LABEL, annotation, set_label

ADOPT_ANNOTATION = "gitops.core/adopt"
LIST_LIMIT = 20


def _opted_in(engine, entry):
    return engine.opts.adopt or str(annotation(entry.body, ADOPT_ANNOTATION)).strip().lower() == "true"


def resolve(engine, entries, record):
    """Mark desired entries whose live object another set owns as `adopt` (with the opt-in) or
    refuse the run; note the adoption of objects no set owns."""
    set_name = engine.opts.set_name
    suspects = [e for e in entries if e.live is not None and e.action != SKIP and set_label(e.live) != set_name]
    if not suspects:
        return
    recorded = None  # the other sets' inventories, read once and only when an unlabeled object needs it
    ours = {ref.key for ref in record.refs}
    conflicts = []
    for e in suspects:
        owner, how = set_label(e.live), "its %s label" % SET_LABEL
        if not owner:
            if recorded is None:
                recorded = inventory.owners(engine.client, engine.opts.inventory_namespace, set_name)
            owner = recorded.get(e.ref.key)
            how = "the inventory %s/%s" % (engine.opts.inventory_namespace, inventory.name_for(owner or ""))
        if not owner:
            e.reason = ("its %s label was removed live; restored" % SET_LABEL if e.ref.key in ours
                        else "adopted: no set managed it before")
            e.action = UPDATE
            continue
        if _opted_in(engine, e):
            e.action = ADOPT
            e.reason = "taken over from set '%s' (found by %s)" % (owner, how)
        else:
            conflicts.append((e, owner, how))
    if conflicts:
        lines = ["%s belongs to set '%s' (by %s)" % (e.where, owner, how) for e, owner, how in conflicts[:LIST_LIMIT]]
        more = "\n(and %d more)" % (len(conflicts) - LIST_LIMIT) if len(conflicts) > LIST_LIMIT else ""
        raise GitOpsError(
            "set '%s' declares %d object(s) that another set owns; nothing was changed:\n%s%s\n"
            "To move an object between sets, remove it from the other set's Git first, or take it over "
            "explicitly with adopt: true (this run) or the annotation %s: \"true\" on the object in Git."
            % (set_name, len(conflicts), "\n".join(lines), more, ADOPT_ANNOTATION),
            conflicts=[{"object": str(e.ref), "source": e.source, "owner": owner} for e, owner, _h in conflicts])
