#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_reconcile
short_description: Converge a Kubernetes cluster to the desired state, with safe prune
version_added: 0.1.0
description:
  - Makes the cluster match a set of desired objects (from M(gitops.core.git_desired_state), or
    files) with server-side apply, sending only the objects that differ.
  - Plans first, with one LIST per kind filtered by the set label and a read of the set's
    inventory; objects not found that way (first apply, adoption) are read by name.
  - Every object that will be written is first validated by a server-side dry-run; when one
    fails, nothing is applied. Objects in a Namespace, or of a CRD, that the same run creates are
    dry-run just before their own phase.
  - Applies in order (annotation C(gitops.core/wave), then CRDs, Namespaces, cluster-scoped RBAC
    and config, ServiceAccounts, ConfigMaps, Secrets, Services, workloads, then the rest). CRDs are
    Established (and discovery refreshed) before their custom resources.
  - After every apply succeeded, prunes the objects that left the set (found in the inventory or by
    the set label), in reverse order, each read again just before its delete (set label, uid and
    annotations re-checked, uid and resourceVersion sent as preconditions), then writes the
    inventory ConfigMap C(gitops-set-<set_name>) in O(inventory_namespace). Objects left in place
    (O(prune=false), C(gitops.core/prune=disabled)) stay in it, marked abandoned, so that they
    can still be reported and pruned later.
  - A desired object that another set owns (its C(gitops.core/set) label, or another set's
    inventory) fails the run before any write, naming the object and both sets, unless
    O(adopt=true) or the annotation C(gitops.core/adopt=true) in Git opts in; the takeover is
    then the action V(adopt).
  - Helm hooks (C(helm.sh/hook), kept by M(gitops.core.git_desired_state)'s default C(helm.hooks=helm)) run as
    C(helm upgrade) runs them, when their release changed since its hooks last succeeded - C(pre-install)/C(pre-upgrade)
    hooks before the other objects, C(post-install)/C(post-upgrade) ones after them, in C(helm.sh/hook-weight) order;
    Jobs and Pods are waited for until they completed (at most O(wait_timeout) seconds each); a failing hook stops
    the run before anything after it is applied; C(helm.sh/hook-delete-policy) is honoured. See RV(hooks).
  - A run-once object (C(gitops.core/run-once=true), or a Job with C(ttlSecondsAfterFinished)) is created once per
    content; once it ran and is gone it is not created again until its content changes in Git.
  - An update refused for an immutable field fails before any write, naming the object and field, unless
    O(recreate=true) or the annotation C(gitops.core/recreate=enabled) opts in (then the action V(recreate)).
  - An object taken over (no set managed it, or O(adopt)) first hands the fields of O(takeover_managers)
    (kubectl, Helm) to the set's field manager, so that a field Git later removes is removed live.
  - A second run with the same input changes nothing and makes no write request.
  - O(revision) is recorded in the inventory and in the C(gitops.core/revision) annotation of each
    object the run applies.
author:
  - gitops.core developers (@gitops-core)
extends_documentation_fragment:
  - gitops.core.k8s_auth_options
  - gitops.core.set_options
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Uses server-side dry-run for applies and deletes and reports exactly what a real run would
        create, update and prune. Writes nothing, not even the inventory.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - Before (live) and after (server-side dry-run result) per changed object, server-owned
        metadata stripped and Secret values hidden.
options:
  prune:
    description:
      - Delete objects that left the desired set. Objects annotated C(gitops.core/prune=disabled),
        and objects whose C(gitops.core/set) label no longer names this set, are never deleted.
    type: bool
    default: true
  force_conflicts:
    description:
      - Take over fields owned by other field managers. When false, a conflict fails the run before
        anything is written, naming the other manager and the fields.
    type: bool
    default: true
  wait:
    description:
      - Wait until the desired objects are healthy (status V(Current); rules per kind, then the generic
        Stalled, Reconciling and Ready conditions).
      - Fails at once, with the reason, when an object has V(Failed), for example a Deployment past its
        progress deadline or a failed Job.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true); on timeout the run fails listing each object still waited for and why.
      - Also how long each Helm hook Job or Pod is waited for until it completed (whatever O(wait) says).
    type: int
    default: 300
  list_unchanged:
    description:
      - Also list the objects already in sync (action V(unchanged)) in RV(objects). By default RV(objects)
        lists what the run creates, updates, adopts, prunes or leaves alone, and RV(unchanged) counts the
        rest, so a run over thousands of objects that changes few returns a small result.
    type: bool
    default: false
seealso:
  - module: gitops.core.git_desired_state
  - module: gitops.core.drift_check
  - name: Ownership, guards, result shape and health states
    description: docs/engine.md in the collection.
    link: https://github.com/gitops-core/gitops.core/blob/main/docs/engine.md
notes:
  - Annotation C(gitops.core/reconcile=disabled), in Git or on the live object, leaves that object alone.
  - Requests are retried with backoff on 429, 5xx and connection errors; 401 and 403 fail at once.
  - A failed run never shrinks the inventory, so nothing is forgotten.
"""

EXAMPLES = r"""
- name: Fetch the desired state
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    version: main
    path: [clusters/prod]
  register: desired

- name: Converge, pruning at most 10 objects
  gitops.core.k8s_reconcile:
    set_name: prod-apps
    objects: "{{ desired.objects }}"
    sources: "{{ desired.sources }}"
    revision: "{{ desired.commit }}"
    max_deletions: 10
    wait: true
    wait_timeout: 600

- name: Preview exactly what a run would do
  gitops.core.k8s_reconcile:
    set_name: prod-apps
    src: manifests/
  check_mode: true
  diff: true
"""

RETURN = r"""
sets:
  description:
    - With O(sets) - one entry per set, in the order given - C(set), C(status) (V(ok), V(failed) or V(skipped)),
      C(depends_on), C(source) and, for a set that ran, everything this module returns for one set (without
      C(api_requests), given once for all sets); for a failed set C(msg) and the error's details; for a skipped
      set C(reason).
  returned: when O(sets) is given
  type: list
  elements: dict
  sample: [{set: crds, status: ok, changed: false, depends_on: []}, {set: apps, status: skipped, depends_on: [crds],
            reason: "its dependency 'crds' failed"}]
summary:
  description:
    - With O(sets) - how many sets, how many succeeded, the names of the changed, failed and skipped sets, and the
      waves of the dependency order.
  returned: when O(sets) is given
  type: dict
  sample: {sets: 3, ok: 2, changed: [apps], failed: [], skipped: [web], waves: [[crds], [apps, web]]}
removed_sets:
  description:
    - With O(declaration) - each set the declaration recorded and no longer lists - C(set), C(action) (V(abandoned),
      V(pruned) or V(failed)), C(inventory_namespace), C(pruned) (the objects deleted), C(kept) (objects left in
      place), C(reason) or C(msg).
  returned: when O(declaration) is given
  type: list
  elements: dict
  sample: [{set: old-app, action: pruned, pruned: ["ConfigMap shop/old"], kept: 0, inventory_namespace: gitops-system,
            reason: "no longer declared; pruned whole"}]
declaration:
  description: With O(declaration) - its name, the namespace of its inventory, and how many sets that records.
  returned: when O(declaration) is given
  type: dict
  sample: {name: prod, inventory_namespace: gitops-system, sets: 12}
changed:
  description: Whether anything was (or, in check mode, would be) created, updated or pruned.
  returned: always
  type: bool
created:
  description: Objects created, as C(group/Kind namespace/name).
  returned: success
  type: list
  elements: str
  sample: ["apps/Deployment shop/web"]
updated:
  description: Objects updated.
  returned: success
  type: list
  elements: str
  sample: ["ConfigMap shop/web-config"]
adopted:
  description: Objects taken over from another set (with O(adopt=true) or the C(gitops.core/adopt) annotation).
  returned: success
  type: list
  elements: str
  sample: ["ConfigMap shop/shared"]
recreated:
  description:
    - Objects deleted and created again (an update refused for an immutable field, with O(recreate) or the
      C(gitops.core/recreate) annotation; a run-once object whose content changed), in apply order.
  returned: success
  type: list
  elements: str
  sample: ["batch/Job shop/migrate"]
hooks:
  description:
    - Every Helm hook of the desired state, in Helm's order (weight, kind, name), with C(ref), C(source),
      C(hook) (its C(helm.sh/hook) phases), C(weight), C(action) (V(run) on this sync, or V(skip)), C(stages)
      (V(pre), V(post)) and C(reason) (why it runs or not).
    - In check mode, the hooks a run would run.
  returned: success
  type: list
  elements: dict
  sample: [{ref: "batch/Job shop/web-migrate", source: "charts/web/templates/migrate.yaml, document 1",
            hook: pre-upgrade, weight: 5, action: run, stages: [pre], reason: "pre-upgrade hook: shop/web changed"}]
pruned:
  description:
    - Objects deleted because they left the set, in the order deleted; the same objects as the RV(objects) entries
      with action V(prune). An object already gone when prune reached it is not listed here; its entry is V(skip)
      with the reason.
  returned: success
  type: list
  elements: str
  sample: ["Service shop/old-api"]
skipped_objects:
  description:
    - Objects left alone, each with its action (V(skip) or V(abandon)) and the reason.
    - Named C(skipped_objects) because Ansible reserves the result key C(skipped).
  returned: success
  type: list
  elements: dict
  sample: [{ref: "ConfigMap shop/keep", action: abandon, reason: "left the set; annotation gitops.core/prune: disabled"}]
unchanged:
  description: Number of desired objects already in sync.
  returned: success
  type: int
  sample: 118
objects:
  description:
    - Every object of the plan but those already in sync (with O(list_unchanged=true), every object), in the
      shape drift_check shares, with C(ref), C(action) (V(create), V(update), V(adopt), V(unchanged),
      V(prune), V(abandon), V(skip)), C(source), C(reason) and, for updates and adoptions, C(diffs) (the
      fields that differed).
  returned: success
  type: list
  elements: dict
  sample: [{ref: "apps/Deployment shop/web", action: update, source: "apps/web.yaml, document 1", reason: null,
            diffs: [{path: spec.replicas, desired: 3, live: 5}]}]
health:
  description:
    - Per object (C(ref)), its health status (V(Current), V(InProgress), V(Failed), V(Terminating), V(NotFound)),
      whether it is healthy, and why (with O(wait=true)). Also in the details of a failed wait.
    - A workload still in progress whose pod cannot be scheduled or is crash-looping is V(Failed) at once,
      naming the pod.
  returned: when wait is true
  type: list
  elements: dict
  sample: [{ref: "apps/Deployment shop/web", status: Current, healthy: true, message: "Available: 3/3"}]
failures:
  description:
    - When a dry-run, apply or prune failed, each object that failed (C(ref), C(source), C(error)).
  returned: when a dry-run, apply or prune failed
  type: list
  elements: dict
  sample: [{ref: "ConfigMap shop/web", source: "apps/web.yaml, document 1", error: "metadata.name: Invalid value"}]
conflicts:
  description:
    - When the run was refused because another set owns desired objects, each of them (C(ref), C(source), C(owner)).
  returned: when another set owns a desired object and the run may not adopt it
  type: list
  elements: dict
  sample: [{ref: "ConfigMap shop/shared", source: "shared.yaml, document 1", owner: other-set}]
inventory:
  description: The inventory ConfigMap and what it records.
  returned: success
  type: dict
  sample: {name: gitops-set-prod-apps, namespace: gitops-system, revision: 3f1c2e9a, objects: 120, abandoned: 1}
lock:
  description:
    - The set's lock (O(lock)) this run held - its Lease, the holder identity, the seconds it waited for
      another run, and the holder it took over from when that run's lock had expired.
  returned: when O(lock=true), outside check mode
  type: dict
  sample: {name: gitops-set-prod-apps, namespace: gitops-system, holder: awx-ee-7f9c/pid-412/awx-job-88,
           waited: 0.0, took_over_from: null}
api_requests:
  description:
    - API requests made, by verb (list, get, apply, apply-dry-run, delete, discovery, lease).
    - C(retries) counts requests sent again after a 429, a 5xx or a connection error.
  returned: success
  type: dict
  sample: {discovery: 2, list: 4, get: 1}
duration:
  description: Seconds the run took.
  returned: success
  type: float
  sample: 1.42
diff:
  description: Before and after of each changed object (diff mode).
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.jobs import reconcile
from ansible_collections.gitops.core.plugins.module_utils.cluster.set_args import MODULE_OPTIONS, protect, set_argument_spec
from ansible_collections.gitops.core.plugins.module_utils.jobs.inputs import load
from ansible_collections.gitops.core.plugins.module_utils.jobs.sets import Job, run_module as run_sets


def argument_spec():
    return set_argument_spec(
        prune=dict(type="bool", default=True),
        force_conflicts=dict(type="bool", default=True),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        list_unchanged=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), **MODULE_OPTIONS)
    params = protect(module)
    if params["sets"] is not None:
        run_sets(module, params, Job("reconcile", reconcile.Options.from_params, reconcile.run))
    try:
        options = reconcile.Options.from_params(params, module.check_mode, module._diff)
        objects, sources, client = load(module, params)
        result = reconcile.run(client, options, objects, sources)
    except GitOpsError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
