"""Hooks, run-once objects, recreate and takeover on plain data: what runs when, and why."""
from __future__ import annotations

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common import vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import lifecycle
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef


def job(name="migrate", annotations=None, ttl=None):
    spec = {"template": {"spec": {"containers": [{"name": "m", "image": "db:1"}], "restartPolicy": "Never"}}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}}, "spec": spec}


def ref(obj):
    return ObjectRef.from_object(obj)


def hook(annotations):
    obj = job(annotations=annotations)
    return lifecycle.hook_of(obj, ref(obj), "batch/Job shop/migrate (charts/web/templates/migrate.yaml)")


CHART_HOOK = {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "5", "gitops.core/release": "shop/web",
              "gitops.core/release-digest": "d2"}


def test_a_chart_hook_runs_when_its_release_changed_and_only_in_its_phase():
    h = hook(CHART_HOOK)
    assert (h.key, h.digest, h.weight, h.policies) == ("release shop/web", "d2", 5, ("before-hook-creation",))
    assert lifecycle.hook_stages(h, {"release shop/web": "d1"}) == (("pre",), "pre-upgrade hook: shop/web changed")
    assert lifecycle.hook_stages(h, {"release shop/web": "d2"}) == (
        (), "not run: shop/web unchanged since its hooks last succeeded")
    assert lifecycle.hook_stages(h, {}) == ((), "not run: a pre-upgrade hook, and this sync is an install of shop/web")
    both = hook(dict(CHART_HOOK, **{"helm.sh/hook": "pre-install,pre-upgrade,post-install,post-upgrade"}))
    assert lifecycle.hook_stages(both, {})[0] == ("pre", "post")


def test_a_hook_in_plain_yaml_is_its_own_release_with_its_own_content():
    plain = hook({"helm.sh/hook": "post-install"})
    assert plain.key == "hook batch/Job shop/migrate" and len(plain.digest) == 64
    assert lifecycle.hook_stages(plain, {})[0] == ("post",)


def test_helm_sh_hook_is_read_one_way_for_the_chart_renderer_and_the_engine():
    """git_desired_state (source/helm.py) and k8s_reconcile (here) read the annotation with vocab's one parser."""
    assert vocab.helm_hook_phases(" pre-install , post-upgrade,,") == ("pre-install", "post-upgrade")
    assert hook({"helm.sh/hook": " pre-install , post-upgrade,,"}).phases == ("pre-install", "post-upgrade")
    assert vocab.helm_hook_phases(" , ") == () and hook({"helm.sh/hook": " , "}) is None
    assert vocab.HELM_PRE_HOOKS + vocab.HELM_POST_HOOKS == ("pre-install", "pre-upgrade", "post-install", "post-upgrade")


@pytest.mark.parametrize("annotations, message", [
    ({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "first"}, "helm.sh/hook-weight must be an integer"),
    ({"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-succeded"}, "unknown policy 'hook-succeded'"),
])
def test_a_bad_hook_annotation_is_refused_naming_the_object(annotations, message):
    with pytest.raises(GitOpsError, match=r"batch/Job shop/migrate \(charts/web/templates/migrate.yaml\): .*" + message):
        hook(annotations)


def test_a_job_with_a_ttl_runs_once_per_content_unless_it_says_otherwise():
    ttl = job(ttl=0)
    once = lifecycle.run_once_of(ttl, ref(ttl))
    assert once.key == "once batch/Job shop/migrate"
    assert lifecycle.run_once_of(job(), ref(job())) is None
    opted_out = job(annotations={"gitops.core/run-once": "false"}, ttl=0)
    assert lifecycle.run_once_of(opted_out, ref(opted_out)) is None
    marked = job(annotations={"gitops.core/run-once": "true"})
    assert lifecycle.run_once_of(marked, ref(marked)) is not None


def test_the_content_digest_is_derived_from_no_secret_value():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "annotations": {"gitops.core/run-once": "true"}},
              "stringData": {"password": "hunter2"}}
    other = dict(secret, stringData={"password": "correct horse"})
    assert lifecycle.content_digest(secret) == lifecycle.content_digest(other)
    assert lifecycle.content_digest(secret) != lifecycle.content_digest(dict(secret, stringData={"token": "x"}))


def test_the_content_digest_ignores_the_revision_and_follows_the_content():
    a = job(annotations={"gitops.core/revision": "abc"})
    b = job(annotations={"gitops.core/revision": "def"})
    assert lifecycle.content_digest(a) == lifecycle.content_digest(b)
    b["spec"]["template"]["spec"]["containers"][0]["image"] = "db:2"
    assert lifecycle.content_digest(a) != lifecycle.content_digest(b)


def test_recreate_needs_an_opt_in_and_guarded_kinds_need_their_own_annotation():
    j, pvc = job(), {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}}
    assert lifecycle.recreate_opt_in(j, ref(j), False) == (False, None)
    assert lifecycle.recreate_opt_in(j, ref(j), True) == (True, "recreate: true")
    assert lifecycle.recreate_opt_in(pvc, ref(pvc), True) == (False, None)
    pvc["metadata"]["annotations"] = {"gitops.core/recreate": "enabled"}
    assert lifecycle.recreate_opt_in(pvc, ref(pvc), False) == (True, "annotation gitops.core/recreate: enabled")


def test_takeover_hands_the_deploy_tools_fields_to_us_and_drops_last_applied_but_never_a_controllers():
    tool = {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:annotations": {"f:team": {}}}}}
    controller = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                  "fieldsV1": {"f:status": {}}}
    helm = {"manager": "helm", "operation": "Update", "fieldsV1": {"f:data": {"f:c": {}}}}
    live = {"apiVersion": "v1", "metadata": {"resourceVersion": "42", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"}, "managedFields": [tool, controller, helm]}}
    assert lifecycle.deploy_tool_entries(live) == ["helm", "kubectl-client-side-apply"]
    patch = lifecycle.takeover_patch(live, "gitops-core")
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert patch[1] == {"op": "replace", "path": "/metadata/managedFields", "value": [controller, {
        "manager": "gitops-core", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}, "f:metadata": {"f:annotations": {"f:team": {}}}}}]}
    assert patch[2] == {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"}
    assert lifecycle.takeover_patch(live, "gitops-core", tools=()) == [patch[0], patch[2]]
    assert lifecycle.takeover_patch({"metadata": {"managedFields": [controller]}}, "gitops-core") is None
