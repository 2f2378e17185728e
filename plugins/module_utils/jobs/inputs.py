# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a cluster module works on: the desired objects (inline, or loaded from `src`) and the client."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import connect
from ansible_collections.gitops.core.plugins.module_utils.source import manifests


def load(module, params):
    """(objects, sources, client) of a cluster module.  Raises GitOpsError for bad `src` files
    or credentials."""
    if params["src"]:
        objects, sources = manifests.load_path(params["src"])
    else:
        objects, sources = params["objects"], params["sources"]
    kubeconfig.require(module)
    return objects, sources, connect(params, params["parallelism"])
