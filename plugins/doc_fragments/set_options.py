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
    description: Concurrent API requests.
    type: int
    default: 8
"""
