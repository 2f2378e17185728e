# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec matching doc fragment gitops.core.set_options (plus the auth options), and
what both cluster modules do first: hide what must not be echoed (jobs/inputs.py then loads the
desired objects and makes the client).  The values are checked where they are typed (engine.Options, kube.connect)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.common import sanitize
from ansible_collections.gitops.core.plugins.module_utils.cluster.auth_args import auth_argument_spec
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import DEPLOY_TOOLS, FIELD_MANAGER

MODULE_OPTIONS = dict(mutually_exclusive=[("objects", "src", "sets"), ("set_name", "sets")],
                      required_one_of=[("objects", "src", "sets"), ("set_name", "sets")],
                      supports_check_mode=True)

POLICY_OPTIONS = dict(namespaces=dict(type="list", elements="str"), cluster_kinds=dict(type="list", elements="str"),
                      denied_kinds=dict(type="list", elements="str"))
# drift_check's `ignore` rules, also a set's own (option `sets`)
IGNORE_OPTIONS = dict(group=dict(type="str"), kind=dict(type="str"), namespace=dict(type="str"), name=dict(type="str"),
                      paths=dict(type="list", elements="str"), managers=dict(type="list", elements="str"))
# One set of option `sets` (git_desired_state's `sets` result): a field left out (None) keeps the
# module's option of the same name (jobs/sets.py).
SET_OPTIONS = dict(
    name=dict(type="str", required=True),
    depends_on=dict(type="list", elements="str", default=[]),
    objects=dict(type="list", elements="dict", default=[]),
    sources=dict(type="list", elements="raw"),
    revision=dict(type="str"),
    source=dict(type="dict"),
    signature=dict(type="dict"),
    charts=dict(type="list", elements="dict"),
    digest=dict(type="str"),
    object_count=dict(type="int"),
    namespace=dict(type="str"),
    prune=dict(type="bool"),
    max_deletions=dict(type="int"),
    wait=dict(type="bool"),
    wait_timeout=dict(type="int"),
    ignore=dict(type="list", elements="dict", options=IGNORE_OPTIONS),
    recreate=dict(type="bool"),
    adopt=dict(type="bool"),
    policy=dict(type="dict", options=POLICY_OPTIONS),
    service_account=dict(type="str"),
    impersonate_user=dict(type="str"),
    impersonate_groups=dict(type="list", elements="str"),
    inventory_namespace=dict(type="str"),
)


def set_argument_spec(**extra):
    """The options every cluster module shares, with their defaults (the only place they live)."""
    spec = auth_argument_spec()
    spec.update(
        objects=dict(type="list", elements="dict"),
        sources=dict(type="list", elements="raw"),
        src=dict(type="path"),
        set_name=dict(type="str"),
        sets=dict(type="list", elements="dict", options=SET_OPTIONS),
        declaration=dict(type="dict", options=dict(name=dict(type="str", required=True), file=dict(type="str"),
                                                   prune=dict(type="bool", default=False),
                                                   max_deletions=dict(type="int"),
                                                   sets=dict(type="list", elements="str"))),
        set_parallelism=dict(type="int", default=4),
        revision=dict(type="str"),
        source=dict(type="dict"),
        started_by=dict(type="dict"),
        status_interval=dict(type="int", default=300),
        namespace=dict(type="str", default="default"),
        inventory_namespace=dict(type="str", default="gitops-system"),
        field_manager=dict(type="str", default=FIELD_MANAGER),
        prune_propagation=dict(type="str", default="Background", choices=["Background", "Foreground", "Orphan"]),
        parallelism=dict(type="int", default=8),
        allow_empty=dict(type="bool", default=False),
        max_deletions=dict(type="int"),
        adopt=dict(type="bool", default=False),
        api_retries=dict(type="int", default=5),
        recreate=dict(type="bool", default=False),
        policy=dict(type="dict", options=POLICY_OPTIONS),
        takeover_managers=dict(type="list", elements="str", default=list(DEPLOY_TOOLS)),
        lock=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=300),
        lock_duration=dict(type="int", default=60),
        lock_expired_version=dict(type="str"),
    )
    spec.update(extra)
    return spec


def protect(module):
    """The params as given (a copy, for the run), before anything can fail: the kubeconfig and
    the Secret values of inline `objects` are then hidden from the invocation that every
    fail_json/exit_json echoes (and -vvv shows)."""
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    params = dict(module.params)
    kubeconfig.hide_kubeconfig(module)
    objects = module.params.get("objects")
    if isinstance(objects, list):
        module.params["objects"] = [sanitize.mask_secret(obj) for obj in objects]
    if isinstance(module.params.get("sets"), list):
        module.params["sets"] = [dict(entry, objects=[sanitize.mask_secret(obj) for obj in entry.get("objects") or []])
                                 for entry in module.params["sets"]]
    return params
