# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options naming the desired objects and the managed set, shared by k8s_reconcile and drift_check."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  objects:
    description:
      - The desired objects, for example RV(gitops.core.git_desired_state#module:objects).
      - Mutually exclusive with O(src); one of them is required.
    type: list
    elements: dict
  sources:
    description:
      - Where each of O(objects) came from, in the same order, for messages; pass
        RV(gitops.core.git_desired_state#module:sources).
    type: list
    elements: raw
  src:
    description:
      - A YAML/JSON file or a folder of them (searched recursively) holding the desired objects.
      - Mutually exclusive with O(objects).
    type: path
  set_name:
    description:
      - The name of the managed set, for example V(prod-apps). Every object the set applies carries the
        label C(gitops.core/set=<set_name>); the inventory is the ConfigMap C(gitops-set-<set_name>).
      - Lower-case letters, digits and C(-), at most 53 characters.
    type: str
    required: true
  revision:
    description:
      - The revision of the desired state, for example the commit.
    type: str
  namespace:
    description: Namespace for namespaced objects that do not name one.
    type: str
    default: default
  inventory_namespace:
    description: Namespace of the set's inventory ConfigMap.
    type: str
    default: gitops-system
  field_manager:
    description:
      - The server-side apply field manager of the set. Fields it applied earlier that Git no longer
        declares count as differences.
    type: str
    default: gitops-core
  prune_propagation:
    description: Deletion propagation for pruned objects.
    type: str
    choices: [Background, Foreground, Orphan]
    default: Background
  parallelism:
    description: Concurrent API requests (one pool of workers and kept-alive connections per run).
    type: int
    default: 8
  allow_empty:
    description:
      - Allow an empty desired set to prune. When false (the default), a run whose desired set is
        empty and that would prune anything (or whose inventory lists anything) is refused before any
        write; this protects against an empty branch or a failed render.
      - A guard of every delete, by k8s_reconcile and by drift_check's O(gitops.core.drift_check#module:remediate) alike.
    type: bool
    default: false
  max_deletions:
    description:
      - Refuse, before any write, a run that would prune more objects than this; the error lists what
        would have been deleted.
      - A guard of every delete, by k8s_reconcile and by drift_check's O(gitops.core.drift_check#module:remediate) alike.
    type: int
  adopt:
    description:
      - Take over desired objects that another set owns (that carry another set's C(gitops.core/set)
        label, or that no set labels but another set's inventory in O(inventory_namespace) records).
      - When false (the default) such an object fails the run before any write, naming the object and
        both sets. The annotation C(gitops.core/adopt=true) on an object in Git opts in for that object only.
      - A takeover is the action V(adopt) in the result and in check mode; the other set then no longer
        counts the object (it neither applies nor prunes it, and drops it from its inventory).
      - Objects that no set owns (no label, in no other inventory) are adopted without this option.
    type: bool
    default: false
"""
