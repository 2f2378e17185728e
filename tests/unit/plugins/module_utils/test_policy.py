"""A set's policy on plain data: which objects it may own, and the refusal that names each rule."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.gitops.core.plugins.module_utils.engine import plan as planner
from ansible_collections.gitops.core.plugins.module_utils.engine import policy
from ansible_collections.gitops.core.plugins.module_utils.engine.changeset import ABANDON, PRUNE
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef

TEAM = policy.parse({"namespaces": ["team-a", "team-a-*"], "cluster_kinds": ["Namespace"],
                     "denied_kinds": ["rbac.authorization.k8s.io/RoleBinding"]})


def ref(kind, name, ns="", group=""):
    return ObjectRef(group, "v1", kind, ns, name)


@pytest.mark.parametrize("target, why", [
    (ref("ConfigMap", "web", "team-a"), None),
    (ref("ConfigMap", "web", "team-a-dev"), None),
    (ref("Namespace", "team-a-dev"), None),
    (ref("ConfigMap", "web", "team-b"), "namespace team-b is not in policy.namespaces (team-a, team-a-*)"),
    (ref("Namespace", "team-b"), "Namespace team-b is not in policy.namespaces (team-a, team-a-*)"),
    (ref("ClusterRoleBinding", "admin", group="rbac.authorization.k8s.io"),
     "cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is not in policy.cluster_kinds (Namespace)"),
    (ref("RoleBinding", "admin", "team-a", "rbac.authorization.k8s.io"),
     "kind rbac.authorization.k8s.io/RoleBinding is in policy.denied_kinds"),
])
def test_each_rule_names_itself(target, why):
    assert policy.violation(TEAM, target) == why


def test_an_empty_cluster_kind_list_allows_no_cluster_scoped_kind_and_no_policy_allows_everything():
    """argo-cd#5540: an empty cluster-resource allow-list allowed everything."""
    empty = policy.parse({"namespaces": ["team-a"]})
    assert "is not in policy.cluster_kinds (none allowed)" in policy.violation(empty, ref("ClusterRole", "x", group="g"))
    assert policy.violation(None, ref("ClusterRole", "x", group="g")) is None


def test_a_desired_object_outside_the_policy_is_refused_with_its_source_and_rule():
    desired = [SimpleNamespace(ref=ref("ConfigMap", "ok", "team-a"), source="a.yaml, document 1"),
               SimpleNamespace(ref=ref("ConfigMap", "web", "team-b"), source="b.yaml, document 2")]
    with pytest.raises(GitOpsError) as err:
        policy.check_desired(TEAM, "team-a-apps", desired)
    assert "set 'team-a-apps' declares 1 object(s) outside its policy; nothing was changed" in err.value.message
    assert "ConfigMap team-b/web (b.yaml, document 2): namespace team-b is not in policy.namespaces" in err.value.message
    assert err.value.details["violations"] == [{"ref": "ConfigMap team-b/web", "source": "b.yaml, document 2",
                                                "rule": "namespace team-b is not in policy.namespaces (team-a, team-a-*)"}]


def test_an_object_the_policy_now_forbids_is_left_in_place_not_pruned():
    live = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "old", "namespace": "team-b", "labels": {"gitops.core/set": "s"}}}
    r = ObjectRef.from_object(live)
    assert planner.decide_leaver(r, live, None, "s", True).action == PRUNE
    kept = planner.decide_leaver(r, live, None, "s", True, TEAM)
    assert kept.action == ABANDON and "not pruned: namespace team-b is not in policy.namespaces" in kept.reason


@pytest.mark.parametrize("value, message", [
    ({"namespace": ["a"]}, "policy.namespace is not a policy key"),
    ({"namespaces": "team-a"}, "policy.namespaces must be a list of non-empty strings"),
])
def test_a_malformed_policy_is_refused(value, message):
    with pytest.raises(GitOpsError, match=message):
        policy.parse(value)
