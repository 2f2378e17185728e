# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A set's policy: what the objects of a set may be, given by whoever runs the job (the job
template, an AWX survey, the inventory), never by the repository it governs.

- `namespaces`: the namespaces (names or globs) its namespaced objects may live in, and the
  Namespace objects it may own; none given: none;
- `cluster_kinds`: the cluster-scoped kinds (`group/Kind`, `Kind` for the core group; globs) it may
  own; none given: none (an empty allow-list allows nothing, unlike argo-cd#5540);
- `denied_kinds`: namespaced kinds it may not own (`rbac.authorization.k8s.io/RoleBinding`, ...).

No policy (the option not given) is the behaviour of a set without one: everything the
credentials allow.  The plan asks `violation()` for every desired object (so adoption and heal
too, which act on desired objects) and for every object it would prune: a desired object outside
the policy fails the run before any write, naming each object, its source and the rule; an object
of the set that left Git but that the policy now forbids is not pruned (left in place, with the
reason)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common import vocab
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import error_entry
from ansible_collections.gitops.core.plugins.module_utils.common.objref import where

Policy = namedtuple("Policy", "namespaces cluster_kinds denied_kinds")
KEYS = Policy._fields
LIST_LIMIT = 20


def parse(value):
    """The Policy of the `policy` option, or None when it is not given."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise GitOpsError("policy must be a mapping with %s" % ", ".join(KEYS))
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise GitOpsError("policy.%s is not a policy key (%s)" % (unknown[0], ", ".join(KEYS)))
    lists = []
    for key in KEYS:
        items = value.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise GitOpsError("policy.%s must be a list of non-empty strings" % key)
        lists.append(tuple(i.strip() for i in items))
    return Policy(*lists)


def kind_id(ref):
    """`group/Kind`, or `Kind` for the core group: how the policy names a kind."""
    return "%s/%s" % (ref.group, ref.kind) if ref.group else ref.kind


def _matches(patterns, text):
    return any(fnmatch.fnmatchcase(text, p) for p in patterns)


def violation(policy, ref):
    """Why `ref` is outside `policy` (naming the rule), or None (also when there is no policy).
    A cluster-scoped object has no namespace in its ref."""
    if policy is None:
        return None
    kind = kind_id(ref)
    if not ref.namespace:
        if not _matches(policy.cluster_kinds, kind):
            return "cluster-scoped kind %s is not in policy.cluster_kinds (%s)" % (
                kind, ", ".join(policy.cluster_kinds) or "none allowed")
        if (ref.group, ref.kind) == ("", "Namespace") and not _matches(policy.namespaces, ref.name):
            return "Namespace %s is not in policy.namespaces (%s)" % (ref.name, ", ".join(policy.namespaces) or "none")
        return None
    if not _matches(policy.namespaces, ref.namespace):
        return "namespace %s is not in policy.namespaces (%s)" % (ref.namespace, ", ".join(policy.namespaces) or "none")
    if _matches(policy.denied_kinds, kind):
        return "kind %s is in policy.denied_kinds" % kind
    return None


def check_desired(policy, set_name, desired):
    """Refuse, before any request that writes, desired objects outside the policy: each named with
    its source and the rule it breaks.  `desired`: objects with `ref` and `source`."""
    if policy is None:
        return
    broken = [(d, violation(policy, d.ref)) for d in desired]
    broken = [(d, why) for d, why in broken if why]
    if broken:
        lines = ["%s: %s" % (where(d.ref, d.source), why) for d, why in broken]
        raise GitOpsError("set '%s' declares %d object(s) outside its policy; nothing was changed:\n%s"
                          % (set_name, len(broken), vocab.listing(lines, LIST_LIMIT)),
                          violations=[error_entry(d, rule=why) for d, why in broken])
