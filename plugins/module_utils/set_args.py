# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec matching doc fragment gitops.core.set_options (plus the auth options), and
the start-up both cluster modules share: validate, load the desired objects, make the client."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gitops.core.plugins.module_utils import compare, kubeconfig, manifests
from ansible_collections.gitops.core.plugins.module_utils.auth_args import auth_argument_spec
from ansible_collections.gitops.core.plugins.module_utils.kube import Client
from ansible_collections.gitops.core.plugins.module_utils.yamlsafe import HAS_YAML, YAML_IMPORT_ERROR

SECRET_KUBECONFIG_KEYS = ("client-key-data", "client-certificate-data", "token", "password", "id-token",
                          "refresh-token", "client-secret", "access-token")
SET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$")
MODULE_OPTIONS = dict(mutually_exclusive=[("objects", "src")], required_one_of=[("objects", "src")],
                      supports_check_mode=True)


def set_argument_spec(**extra):
    spec = auth_argument_spec()
    spec.update(
        objects=dict(type="list", elements="dict"),
        sources=dict(type="list", elements="raw"),
        src=dict(type="path"),
        set_name=dict(type="str", required=True),
        revision=dict(type="str"),
        namespace=dict(type="str", default="default"),
        inventory_namespace=dict(type="str", default="gitops-system"),
        field_manager=dict(type="str", default="gitops-core"),
        prune_propagation=dict(type="str", default="Background", choices=["Background", "Foreground", "Orphan"]),
        parallelism=dict(type="int", default=8),
        allow_empty=dict(type="bool", default=False),
        max_deletions=dict(type="int"),
        adopt=dict(type="bool", default=False),
        api_retries=dict(type="int", default=5),
        lock=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=300),
        lock_duration=dict(type="int", default=60),
    )
    spec.update(extra)
    return spec


def prepare(module):
    """(params, objects, sources, client) for a cluster module, or fail_json with the reason.
    Raises GitOpsError for bad `src` files or credentials."""
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    params = dict(module.params)
    hide_kubeconfig(module)  # first: every fail_json below echoes module.params
    if not SET_NAME.match(params["set_name"]):
        module.fail_json(msg="set_name '%s' must be lower-case letters, digits and '-', at most 53 characters"
                         % params["set_name"])
    if params["parallelism"] < 1:
        module.fail_json(msg="parallelism must be at least 1")
    if params["max_deletions"] is not None and params["max_deletions"] < 0:
        module.fail_json(msg="max_deletions must not be negative")
    if params["api_retries"] < 0:
        module.fail_json(msg="api_retries must not be negative")
    if params["lock_duration"] < 3 or params["lock_timeout"] < 0:
        module.fail_json(msg="lock_duration must be at least 3 seconds and lock_timeout not negative")
    if params["src"]:
        objects, sources = manifests.load_path(params["src"])
    else:
        objects, sources = params["objects"], params["sources"]
        hide_secret_values(module)
    if not kubeconfig.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=kubeconfig.KUBERNETES_IMPORT_ERROR)
    client = Client(kubeconfig.load(params), params["parallelism"], params["api_retries"])
    return params, objects, sources, client


def hide_secret_values(module):
    """Secrets passed in `objects` keep their values for the run, but the invocation Ansible shows
    at -vvv (and returns, on older ansible-core) gets a copy whose Secret values read (hidden)."""
    objects = module.params.get("objects")
    if isinstance(objects, list):
        module.params["objects"] = [compare.mask_secret(obj) for obj in objects]


def hide_kubeconfig(module):
    """A kubeconfig given as a dict is never echoed: its key material joins the values Ansible
    masks in every output, and the whole dict is replaced in the invocation shown at -vvv."""
    value = module.params.get("kubeconfig")
    if isinstance(value, dict):
        secrets = set()

        def walk(node, key=None):
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, k)
            elif isinstance(node, list):
                for v in node:
                    walk(v, key)
            elif isinstance(node, str) and key in SECRET_KUBECONFIG_KEYS and node:
                secrets.add(node)
        walk(value)
        module.no_log_values.update(secrets)
        module.params["kubeconfig"] = "(a kubeconfig given as a dict; not shown)"
