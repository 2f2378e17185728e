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
      - Required unless O(sets) is given (then each set names itself).
    type: str
  sets:
    description:
      - Many sets in one run, for example RV(gitops.core.git_desired_state#module:sets) from a sets declaration
        (docs/sets.md). Mutually exclusive with O(set_name), O(objects) and O(src).
      - One process, one client, discovery and connection pool per identity for all of them. Each set keeps its own
        Lease, inventory, ownership, policy and guards, exactly as when it runs alone.
      - A set starts once each set of its C(depends_on) succeeded and (k8s_reconcile) is healthy; a set others depend on
        is always waited for. Independent sets run in parallel, at most O(set_parallelism) at a time.
      - A set whose dependency failed or was skipped is skipped, naming why; unrelated sets go on; the module fails at the
        end naming each failed and skipped set (result C(summary)).
      - Every set first plans from reads shared by all sets (one LIST per kind for all of them, by their set label, and
        one LIST of their inventories). A set with nothing to write stops there and writes nothing, not even its Lease;
        any other set takes its Lease and plans again from its own reads.
      - A field a set leaves out (or null) keeps this module's option of the same name; C(service_account)
        (C(<namespace>/<name>)) runs the set as that ServiceAccount (impersonated); drift_check adds a set's C(ignore) to its own
        O(gitops.core.drift_check#module:ignore).
    type: list
    elements: dict
    suboptions:
      name: {description: The set's name (as O(set_name)), type: str, required: true}
      depends_on: {description: Names of sets of O(sets) that must succeed first, type: list, elements: str, default: []}
      objects: {description: The set's desired objects, type: list, elements: dict, default: []}
      sources: {description: Where each object came from, type: list, elements: raw}
      revision: {description: The commit of the set's repository, type: str}
      source: {description: 'Where the set comes from (repository, paths, commit), reported with its result', type: dict}
      signature: {description: The signature of the set's own repository; informational, type: dict}
      charts:
        description: The charts the set fetched from repositories and registries (their digests); informational.
        type: list
        elements: dict
      digest: {description: The digest of the set's objects; informational, type: str}
      object_count: {description: How many objects; informational, type: int}
      namespace: {description: As O(namespace), type: str}
      prune: {description: As O(prune) (drift_check - whether a heal prunes), type: bool}
      max_deletions: {description: As O(max_deletions), type: int}
      wait: {description: "As k8s_reconcile's O(gitops.core.k8s_reconcile#module:wait)", type: bool}
      wait_timeout: {description: "As k8s_reconcile's O(gitops.core.k8s_reconcile#module:wait_timeout)", type: int}
      ignore:
        description: "drift_check's ignore rules of this set, added to O(gitops.core.drift_check#module:ignore)"
        type: list
        elements: dict
        suboptions:
          group: {description: API group, type: str}
          kind: {description: Kind, type: str}
          namespace: {description: Namespace, type: str}
          name: {description: Name, type: str}
          paths: {description: Field paths, type: list, elements: str}
          managers: {description: Field managers, type: list, elements: str}
      recreate: {description: As O(recreate), type: bool}
      adopt: {description: As O(adopt), type: bool}
      policy:
        description: As O(policy); the set's own, given by the declaration (never by the set's content)
        type: dict
        suboptions:
          namespaces: {description: As O(policy.namespaces), type: list, elements: str}
          cluster_kinds: {description: As O(policy.cluster_kinds), type: list, elements: str}
          denied_kinds: {description: As O(policy.denied_kinds), type: list, elements: str}
      service_account: {description: "Run the set as this ServiceAccount, C(<namespace>/<name>) (impersonated)", type: str}
      impersonate_user: {description: As O(impersonate_user), type: str}
      impersonate_groups: {description: As O(impersonate_groups), type: list, elements: str}
      inventory_namespace: {description: As O(inventory_namespace), type: str}
  declaration:
    description:
      - The sets declaration O(sets) came from, RV(gitops.core.git_desired_state#module:declaration). Its own inventory,
        the ConfigMap C(gitops-sets-<name>) in O(inventory_namespace), records every set it ran (before the set's first
        write).
      - A set recorded there and no longer in O(sets) is abandoned and reported (result C(removed_sets)), or, when
        O(declaration.prune), pruned whole - a run of that set with no desired object, through every guard - within
        O(declaration.max_deletions) for all removed sets together; its inventory and Lease are then deleted.
      - k8s_reconcile only; drift_check reports the declared sets.
    type: dict
    suboptions:
      name: {description: The declaration's name, type: str, required: true}
      file: {description: The declaration's file in the repository (for messages), type: str}
      prune: {description: Prune whole a set that left the declaration, type: bool, default: false}
      max_deletions: {description: The most objects all removed sets may delete in one run, type: int}
      sets: {description: The names of the declared sets (informational), type: list, elements: str}
  set_parallelism:
    description:
      - How many sets of O(sets) run at once (each with its own O(parallelism) requests).
    type: int
    default: 4
  revision:
    description:
      - The revision of the desired state, for example the commit.
    type: str
  source:
    description:
      - Where the objects come from, for the set's status - git_desired_state's RV(gitops.core.git_desired_state#module:source)
        (repository, paths, commit, commit subject and date, fetched charts). Informational; a set of O(sets) brings
        its own.
      - The set's status is recorded on its inventory ConfigMap, annotations C(gitops.core/sync-status)
        (M(gitops.core.k8s_reconcile)) and C(gitops.core/drift-status) (M(gitops.core.drift_check)), and
        M(gitops.core.set_info) reads it (docs/observability.md). Never in check mode.
    type: dict
  started_by:
    description:
      - What started this run, for the set's status (for example C({awx_job_id, awx_job_url, user})); the roles fill it
        from AWX's job variables. Defaults to the AWX job of the environment (E(JOB_ID), E(AWX_HOST)), else the user
        and host.
    type: dict
  status_interval:
    description:
      - The set's status is written when it says something new (revision, result, objects, health, drift), or when the
        recorded one is this many seconds old - so an unchanged run writes nothing, and its recorded time is at most
        this old. V(0) writes it at every run.
    type: int
    default: 300
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
  policy:
    description:
      - What this set may own, checked in the plan before the first write, for every desired object (so for an
        adoption and a heal too) and every object it would prune. Not given (the default), the set may do whatever
        its credentials allow.
      - Give it from outside the repository it governs (the job template, an AWX survey or inventory variable),
        never from the repository itself. It narrows, and never replaces, the credentials' RBAC; see docs/rbac.md.
      - A desired object outside the policy fails the run before any write, naming each object, its source file
        and the rule it breaks (result C(violations)). An object of the set that left Git but that the policy now
        forbids is not pruned; it is left in place (action V(abandon), with the rule as its reason) and a drift
        check keeps reporting it as orphaned.
    type: dict
    suboptions:
      namespaces:
        description:
          - Namespaces (names or globs such as V(team-a-*)) the set's namespaced objects may live in, and the
            Namespace objects it may own (those also need V(Namespace) in O(policy.cluster_kinds)). None given, none.
        type: list
        elements: str
      cluster_kinds:
        description:
          - Cluster-scoped kinds the set may own, as V(group/Kind) (V(Kind) for the core group; globs allowed), for
            example V(Namespace) or V(rbac.authorization.k8s.io/ClusterRole). None given, none (an empty allow-list
            allows nothing).
        type: list
        elements: str
      denied_kinds:
        description:
          - Namespaced kinds the set may not own, as V(group/Kind) (globs allowed), for example
            V(rbac.authorization.k8s.io/RoleBinding) or V(networking.k8s.io/NetworkPolicy).
        type: list
        elements: str
  recreate:
    description:
      - When an update is refused because it changes an immutable field (a Job's template, a Service's
        C(clusterIP), a StatefulSet's C(volumeClaimTemplates)...), delete the object and create it again,
        as Flux's C(force) and Argo CD's C(Replace=true) do. The delete passes every guard of a prune and
        counts against O(max_deletions); the run waits until the object is gone before creating it. Check
        mode reports the action V(recreate).
      - Without it such an update fails the run before any write, naming the object, the field and this
        way out. The annotation C(gitops.core/recreate=enabled) on an object in Git opts in for that object
        only; Namespaces, CustomResourceDefinitions and PersistentVolumeClaims are recreated only with their
        own annotation, never by this option.
    type: bool
    default: false
  takeover_managers:
    description:
      - When a set takes an object over (an object no set managed, or one adopted from another set), the
        managed-field entries of these field managers are dropped from it, with kubectl's
        C(kubectl.kubernetes.io/last-applied-configuration) annotation, before the set's first apply, so
        that a field Git later removes is removed live (as Flux does on takeover). The plan shows it as
        C(takes over fields from <manager>). Controllers' entries are never dropped.
      - An empty list keeps every entry (a field another tool applied then stays when Git removes it).
    type: list
    elements: str
    default: [kubectl, kubectl-client-side-apply, kubectl-create, kubectl-edit, kubectl-replace, kubectl-patch,
              kubectl-set, kubectl-label, kubectl-annotate, before-first-apply, helm, Helm]
  api_retries:
    description:
      - How many times one API request is sent again after HTTP 429 (API Priority and Fairness), a 5xx or a
        connection error, waiting as the server's C(Retry-After) says (at most 10 s), else backing off from
        0.2 s to 5 s. When they are spent the run fails naming the request, the status and the attempts.
      - 401 and 403 are never retried. The result's C(api_requests.retries) counts the retries made.
    type: int
    default: 5
  lock:
    description:
      - Take the set's lock before reading the cluster, so that two runs of one set (an AWX schedule and a
        webhook-triggered job, or two AWX nodes) never interleave their writes. The lock is the
        C(coordination.k8s.io/v1) Lease C(gitops-set-<set_name>) in O(inventory_namespace); its holder is
        C(host/pid-N), plus C(/awx-job-N) in an AWX job.
      - A second run waits up to O(lock_timeout) seconds, then fails naming the holder. Different sets never
        wait for each other. Check mode and a O(gitops.core.drift_check#module:remediate=false) check take no lock.
      - The credentials need get, create, update and delete on C(leases) in O(inventory_namespace).
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait for a lock another run holds before failing with its holder's identity.
    type: int
    default: 300
  lock_duration:
    description:
      - Seconds the lock stays valid without renewal (the run renews it every third of this). A run that was
        killed blocks the next one for at most this long after the next one first sees the lock.
      - A run that cannot renew its lock in time stops before its next write and fails.
    type: int
    default: 60
  lock_expired_version:
    description:
      - The C(resourceVersion) of the set's Lease that the caller has already watched stay unchanged, held, for
        its C(leaseDurationSeconds) by its own clock (the event source C(gitops.core.k8s_drift) sends it in its
        events as C(lease_expired), and the drift rulebook passes it on). When the Lease is still at exactly that
        version, the run takes it over at once instead of waiting the duration again; any renewal changes the
        version, so a live holder is never taken over.
    type: str
"""
