#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: drift_check
short_description: Compare a Kubernetes cluster with the desired state and report each drifted field
version_added: 0.1.0
description:
  - Compares live objects with the desired objects (from M(gitops.core.git_desired_state), or
    files) and reports every object that is modified, missing, or orphaned (still live with the
    set label or in the inventory, but no longer declared).
  - "Names each drifted field with the value Git declares, the live value, and who changed it
    (the field managers that own it, from C(metadata.managedFields)), for example
    C(spec.replicas: 3 -> 5 (changed by kubectl (Update via scale)))."
  - Uses the same comparison engine and the same requests as M(gitops.core.k8s_reconcile). A clean
    check makes one LIST per kind filtered by the set label, plus the inventory read, and at most one
    server-side-apply dry-run per candidate drift. Nothing is written unless O(remediate=true).
  - Fails the task when drift is found and O(fail_on_drift=true), listing the drifted objects and
    fields (the first 20 objects, then a count).
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
      - The check itself never writes. With O(remediate=true) in check mode, healing is a server-side dry-run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  ignore:
    description:
      - Differences to ignore. Each rule selects objects with optional globs O(ignore[].group),
        O(ignore[].kind), O(ignore[].namespace), O(ignore[].name), and ignores the fields at
        O(ignore[].paths) and/or the fields owned by O(ignore[].managers). A rule with neither ignores
        every field difference of the objects it selects (missing and orphaned objects are still reported).
    type: list
    elements: dict
    default: []
    suboptions:
      group:
        description: API group glob (V("") is the core group).
        type: str
      kind:
        description: Kind glob.
        type: str
      namespace:
        description: Namespace glob.
        type: str
      name:
        description: Name glob.
        type: str
      paths:
        description:
          - Dotted paths with V(*) wildcards and list selectors, such as
            V(spec.template.spec.containers[name=app].image) or V(metadata.annotations[example.com/owner]),
            or JSON pointers such as V(/spec/replicas). A path also covers every field below it. This is the
            grammar of every path the modules print (diffs, O(ignore), the event source's events); a key that
            would read as an index or selector is quoted, V(data["8080"]).
        type: list
        elements: str
      managers:
        description: Field managers whose fields are ignored, for example V(kube-controller-manager) for an HPA's replicas.
        type: list
        elements: str
  fail_on_drift:
    description: Fail the task when drift is found.
    type: bool
    default: true
  check_orphans:
    description: Report objects that carry the set label or are in the inventory but are no longer declared.
    type: bool
    default: true
  server_side_confirm:
    description:
      - Confirm each candidate drift with a server-side-apply dry-run, so that server defaulting and
        mutating webhooks cause no false alarms. Needs the C(patch) permission.
    type: bool
    default: true
  list_in_sync:
    description:
      - Also list the objects that are in sync in RV(objects). By default RV(objects) lists only drifted
        objects (modified, missing, orphaned) and RV(summary) counts them all; reports (O(report_dir)) always
        list every object.
    type: bool
    default: false
  report_dir:
    description:
      - Write C(drift.json), C(drift.junit.xml) (one test case per object, a failure per drifted object)
        and C(drift.md) (a Markdown summary for a pull request or chat) into this folder.
    type: path
  remediate:
    description:
      - Heal through the same path as M(gitops.core.k8s_reconcile) - re-apply drifted and missing objects
        (server-side apply, taking over conflicting fields), prune orphans when O(prune=true) behind the
        same guards (O(allow_empty), O(max_deletions), the label re-check, ownership), then write the
        inventory. Fields that O(ignore) covers but Git declares are re-applied too.
    type: bool
    default: false
  prune:
    description: With O(remediate=true), delete orphaned objects.
    type: bool
    default: false
seealso:
  - module: gitops.core.k8s_reconcile
  - module: gitops.core.git_desired_state
notes:
  - "Secret values never appear in results, reports or messages; a changed key shows as
    C(data.password: changed (values hidden)). Nothing derived from a value (no hash, no length)
    is shown either: a hash of a low-entropy password can be confirmed offline by guessing."
"""

EXAMPLES = r"""
- name: Nightly drift check that fails the job and leaves reports for the CI system
  gitops.core.drift_check:
    set_name: prod-apps
    objects: "{{ desired.objects }}"
    sources: "{{ desired.sources }}"
    revision: "{{ desired.commit }}"
    report_dir: "{{ playbook_dir }}/reports"
    ignore:
      - kind: Deployment
        managers: [kube-controller-manager]   # an HPA scales replicas
      - kind: Deployment
        name: web
        paths: ["spec.template.spec.containers[name=app].image"]

- name: Heal drift instead of failing
  gitops.core.drift_check:
    set_name: prod-apps
    src: manifests/
    fail_on_drift: false
    remediate: true
    prune: true
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
drift:
  description: Whether any object is modified, missing or orphaned.
  returned: always
  type: bool
summary:
  description:
    - Counts per status.
    - With O(sets), the counts over all sets, and how many sets, how many succeeded, the names of the changed,
      failed, skipped and drifted (C(drifted)) sets, and the waves of the dependency order.
  returned: success
  type: dict
  sample: {in_sync: 118, modified: 1, missing: 0, orphaned: 1, total: 120}
objects:
  description:
    - Each drifted object (with O(list_in_sync=true), every object), in the shape k8s_reconcile shares (C(ref), C(action), C(source), C(reason), C(diffs)) plus
      C(status) (V(in_sync), V(modified), V(missing), V(orphaned)), derived from the action, and
      C(changed_by); each diff has C(path), C(desired), C(live) and C(changed_by).
    - An object left in place by a guard (action V(abandon)) is V(orphaned) too.
  returned: success
  type: list
  elements: dict
  sample: [{ref: "apps/Deployment shop/web", action: update, status: modified, source: "apps/web.yaml, document 1", reason: null,
            diffs: [{path: spec.replicas, desired: 3, live: 5,
                     changed_by: [{manager: kubectl, operation: Update, time: "2026-11-26T10:02:00Z"}]}],
            changed_by: [{manager: kubectl, operation: Update, time: "2026-11-26T10:02:00Z"}]}]
skipped_objects:
  description:
    - Objects left alone, each with its action (V(skip) or V(abandon)) and the reason (annotation
      C(gitops.core/reconcile=disabled), an object that now belongs to another set, an orphan left in place),
      keyed by C(ref) like RV(objects).
  returned: success
  type: list
  elements: dict
  sample: [{ref: "ConfigMap shop/keep", action: abandon, reason: "left the set; annotation gitops.core/prune: disabled"}]
hooks:
  description:
    - The Helm hooks of the desired state (never compared with the live state), with whether a sync would run
      them and why; the shape of M(gitops.core.k8s_reconcile)'s RV(gitops.core.k8s_reconcile#module:hooks).
      A heal (O(remediate=true)) runs none.
  returned: success
  type: list
  elements: dict
revision:
  description: O(revision), repeated.
  returned: success
  type: str
healed:
  description: With O(remediate=true), the objects re-applied and pruned.
  returned: when remediate is true and drift was found
  type: dict
  sample: {applied: ["apps/Deployment shop/web"], pruned: []}
reports:
  description: Paths of the reports written.
  returned: when report_dir is set
  type: dict
  sample: {json: /tmp/reports/drift.json, junit: /tmp/reports/drift.junit.xml, md: /tmp/reports/drift.md}
lock:
  description:
    - The set's lock (O(lock)) this run held - its Lease, the holder identity, the seconds it waited for
      another run, and the holder it took over from when that run's lock had expired.
  returned: when O(remediate=true) and O(lock=true), outside check mode
  type: dict
  sample: {name: gitops-set-prod-apps, namespace: gitops-system, holder: awx-ee-7f9c/pid-412/awx-job-88,
           waited: 0.0, took_over_from: null}
api_requests:
  description:
    - API requests made, by verb (as for k8s_reconcile).
    - C(retries) counts requests sent again after a 429, a 5xx or a connection error.
  returned: success
  type: dict
  sample: {discovery: 2, list: 3, get: 1}
duration:
  description: Seconds the check took.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.core.plugins.module_utils.jobs import drift
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.report.result import failure_message
from ansible_collections.gitops.core.plugins.module_utils.cluster.set_args import MODULE_OPTIONS, protect, set_argument_spec, IGNORE_OPTIONS
from ansible_collections.gitops.core.plugins.module_utils.jobs.inputs import load
from ansible_collections.gitops.core.plugins.module_utils.jobs.sets import Job, run_module as run_sets


def argument_spec():
    return set_argument_spec(
        ignore=dict(type="list", elements="dict", default=[], options=IGNORE_OPTIONS),
        fail_on_drift=dict(type="bool", default=True),
        check_orphans=dict(type="bool", default=True),
        server_side_confirm=dict(type="bool", default=True),
        report_dir=dict(type="path"),
        list_in_sync=dict(type="bool", default=False),
        remediate=dict(type="bool", default=False),
        prune=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), **MODULE_OPTIONS)
    params = protect(module)
    if params["sets"] is not None:
        run_sets(module, params, Job("drift", lambda p, check_mode, _diff: drift.Options.from_params(p, check_mode), drift.check))
    try:
        options = drift.Options.from_params(params, module.check_mode)
        objects, sources, client = load(module, params)
        result = drift.check(client, options, objects, sources)
    except GitOpsError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    healed = result.get("healed") or {}
    result["changed"] = bool(healed.get("applied") or healed.get("pruned"))
    if result["drift"] and options.fail_on_drift:
        module.fail_json(msg=failure_message(result), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
