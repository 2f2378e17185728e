#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_capabilities
short_description: The Kubernetes version and API versions a cluster serves, for rendering Helm charts
version_added: 0.1.0
description:
  - Reads the server version (C(/version)) and the served API versions and kinds (aggregated discovery) of
    a cluster, in the form that O(gitops.core.git_desired_state#module:helm.kube_version) and
    O(gitops.core.git_desired_state#module:helm.api_versions) take, so that a chart's C(.Capabilities)
    checks render as they would against that cluster (as Argo CD renders charts for their destination).
  - Three read requests; nothing is written.
author:
  - gitops.core developers (@gitops-core)
extends_documentation_fragment:
  - gitops.core.k8s_auth_options
  - gitops.core.k8s_auth_options.read_only
seealso:
  - module: gitops.core.git_desired_state
"""

EXAMPLES = r"""
- name: What the target cluster serves
  gitops.core.k8s_capabilities:
    context: prod
  register: capabilities

- name: Render the charts as that cluster would
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    path: [charts/web]
    helm:
      release_namespace: web
      kube_version: "{{ capabilities.kube_version }}"
      api_versions: "{{ capabilities.api_versions }}"
"""

RETURN = r"""
kube_version:
  description: The API server's version (C(gitVersion)).
  returned: success
  type: str
  sample: v1.33.2
api_versions:
  description:
    - Every served group/version, then every served group/version/Kind, each sorted; the core group
      without a prefix.
  returned: success
  type: list
  elements: str
  sample: [apps/v1, v1, apps/v1/Deployment, v1/ConfigMap]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.cluster.auth_args import auth_argument_spec
from ansible_collections.gitops.core.plugins.module_utils.cluster.capabilities import capabilities
from ansible_collections.gitops.core.plugins.module_utils.cluster.discovery import Discovery
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import connect


def main():
    module = AnsibleModule(argument_spec=dict(auth_argument_spec(), api_retries=dict(type="int", default=5)),
                           supports_check_mode=True)
    params = dict(module.params)
    kubeconfig.hide_kubeconfig(module)
    kubeconfig.require(module)
    try:
        client = connect(params)
        try:
            result = capabilities(client, Discovery(client))
        finally:
            client.close()
    except GitOpsError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
