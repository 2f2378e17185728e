#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: set_info
short_description: What is deployed where, and is it healthy - the sets of a cluster and their status
version_added: 0.1.0
description:
  - Lists the sets of a cluster (or one set) as their inventories record them - the C(flux get kustomizations)
    or C(argocd app list) of the collection. M(gitops.core.k8s_reconcile) and M(gitops.core.drift_check) record
    each set's status on its inventory ConfigMap at the end of every run (annotations C(gitops.core/sync-status) and
    C(gitops.core/drift-status); O(gitops.core.k8s_reconcile#module:status_interval)).
  - For each set - the revision, commit subject and date, repository, paths and fetched charts; the last sync (time,
    result, duration, message of a failure, what started it - the AWX job, or the user and host); the objects by
    kind; the health summary (when the sync waited); the last drift check (time, result, drifted count); and the
    holder of its Lease while a run is in progress.
  - Read-only - two LIST requests per namespace (inventories, Leases), or two cluster-wide. Never a Secret value or
    a decrypted value - the status holds names, counts, revisions and results.
  - With O(textfile), also writes the same per-set metrics as a node_exporter textfile (atomically), for cron and AWX
    schedules; docs/observability.md names each metric beside Flux's and Argo CD's.
author:
  - gitops.core developers (@gitops-core)
extends_documentation_fragment:
  - gitops.core.k8s_auth_options
  - gitops.core.k8s_auth_options.read_only
options:
  set_name:
    description: Only this set.
    type: str
  inventory_namespace:
    description:
      - The namespaces whose inventories are listed (where k8s_reconcile's O(gitops.core.k8s_reconcile#module:inventory_namespace)
        put them). An empty list lists every namespace (cluster-wide read access).
    type: list
    elements: str
    default: [gitops-system]
  textfile:
    description:
      - Write the sets' metrics here in the Prometheus text format (a C(.prom) file of node_exporter's textfile
        collector folder), atomically - written beside it and renamed. Written in check mode too (it is not the
        cluster).
    type: path
seealso:
  - module: gitops.core.k8s_reconcile
  - module: gitops.core.drift_check
"""

EXAMPLES = r"""
- name: The sets of the cluster
  gitops.core.set_info:
    context: prod
  register: info

- name: As a table
  ansible.builtin.debug:
    msg: "{{ info.sets | map(attribute='name') | zip(info.sets | map(attribute='state'),
            info.sets | map(attribute='revision')) | map('join', '  ') | list }}"

- name: Hand them to the next node of an AWX workflow
  ansible.builtin.set_stats:
    data:
      gitops_sets: "{{ info.sets }}"

- name: Every namespace's sets, and their metrics for node_exporter
  gitops.core.set_info:
    inventory_namespace: []
    textfile: /var/lib/node_exporter/textfile/gitops.prom
"""

RETURN = r"""
sets:
  description:
    - One entry per set, sorted by name - C(name), C(inventory_namespace), C(state) (V(running) while a run holds
      its Lease, V(failed), V(drifted), V(synced), or V(unknown) before a run recorded a status), C(revision),
      C(subject), C(commit_date), C(repo), C(path), C(charts), C(last_sync) (C(time), C(result), C(duration),
      C(started_by), C(message) of a failure), C(last_success) (C(time), C(revision)), C(objects) (by kind), C(object_count), C(health), C(drift) (C(time),
      C(result), C(drifted)), C(lock) (C(holder), C(renewed), C(expired)) and C(inventory_time).
  returned: success
  type: list
  elements: dict
  sample: [{name: prod-apps, inventory_namespace: gitops-system, state: synced, revision: 3f1c2e9a,
            subject: "web: 3 replicas", commit_date: "2026-12-03T15:02:11+00:00",
            last_sync: {time: "2026-12-03T15:04:00Z", result: succeeded, duration: 4.2,
                        started_by: {awx_job_id: "88", awx_job_url: "https://awx.example.com/#/jobs/playbook/88"}},
            objects: {ConfigMap: 4, apps/Deployment: 2}, object_count: 6, drift: {time: "2026-12-03T15:10:00Z",
            result: in sync, drifted: 0}, lock: null}]
summary:
  description: How many sets, and how many in each state.
  returned: success
  type: dict
  sample: {sets: 12, synced: 10, drifted: 1, failed: 1}
textfile:
  description: The textfile written (O(textfile)).
  returned: when O(textfile) is set
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.cluster.auth_args import auth_argument_spec
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import connect
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.jobs import set_info
from ansible_collections.gitops.core.plugins.module_utils.report import metrics, set_status


def main():
    module = AnsibleModule(argument_spec=dict(
        auth_argument_spec(), set_name=dict(type="str"),
        inventory_namespace=dict(type="list", elements="str", default=["gitops-system"]),
        textfile=dict(type="path"), api_retries=dict(type="int", default=5)), supports_check_mode=True)
    params = dict(module.params)
    kubeconfig.hide_kubeconfig(module)
    kubeconfig.require(module)
    try:
        client = connect(params)
        try:
            entries = set_info.read(client, params["inventory_namespace"] or None, params.get("set_name"))
        finally:
            client.close()
        result = dict(changed=False, sets=entries, summary=set_status.summary(entries))
        if params.get("textfile"):
            try:
                metrics.write_textfile(params["textfile"], metrics.exposition(metrics.set_samples(entries)))
            except (IOError, OSError) as exc:
                raise GitOpsError("textfile %s cannot be written: %s" % (params["textfile"], exc))
            result["textfile"] = params["textfile"]
    except GitOpsError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
