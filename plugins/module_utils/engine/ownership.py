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

from ansible_collections.gitops.core.plugins.module_utils.common import vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import inventory
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import ADOPT, UPDATE, error_entry
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import annotation, set_label, where
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import ADOPT_ANNOTATION, SET_LABEL

LIST_LIMIT = 20


def _opted_in(opts, body):
    return opts.adopt or str(annotation(body, ADOPT_ANNOTATION)).strip().lower() == "true"


def takeovers(engine, found, record):
    """{key: (action, reason)} for each desired object whose live object another set owns
    (`adopt`, with the opt-in) or no set owns (`update`, with the reason), from `found`: the
    (Desired, live) pairs of the run.  Raises GitOpsError, naming each object and both sets, when
    another set owns one and the run may not adopt it."""
    opts = engine.opts
    set_name = opts.set_name
    suspects = [(d, live) for d, live in found if set_label(live) != set_name]
    out = {}
    if not suspects:
        return out
    recorded = None  # the other sets' inventories, read once and only when an unlabeled object needs it
    ours = {ref.key for ref in record.refs}
    conflicts = []
    for d, live in suspects:
        owner, how = set_label(live), "its %s label" % SET_LABEL
        if not owner:
            if recorded is None:
                recorded = inventory.owners(engine.client, opts.inventory_namespace, set_name)
            owner = recorded.get(d.ref.key)
            how = "the inventory %s/%s" % (opts.inventory_namespace, vocab.set_object_name(owner or ""))
        if not owner:
            out[d.ref.key] = (UPDATE, "its %s label was removed live; restored" % SET_LABEL if d.ref.key in ours
                              else "adopted: no set managed it before")
        elif _opted_in(opts, d.body):
            out[d.ref.key] = (ADOPT, "taken over from set '%s' (found by %s)" % (owner, how))
        else:
            conflicts.append((d, owner, how))
    if conflicts:
        lines = ["%s belongs to set '%s' (by %s)" % (where(d.ref, d.source), owner, how) for d, owner, how in conflicts]
        raise GitOpsError(
            "set '%s' declares %d object(s) that another set owns; nothing was changed:\n%s\n"
            "To move an object between sets, remove it from the other set's Git first, or take it over "
            "explicitly with adopt: true (this run) or the annotation %s: \"true\" on the object in Git."
            % (set_name, len(conflicts), vocab.listing(lines, LIST_LIMIT), ADOPT_ANNOTATION),
            conflicts=[error_entry(d, owner=owner) for d, owner, _h in conflicts])
    return out
