"""Tenants and least privilege on the real control plane, with real ServiceAccount tokens and the
documented roles only (examples/rbac/platform.yaml, the gitops.core.tenant role): no run here uses
system:masters.  The platform identity bootstraps two tenants, then the sync, drift (heal) and
preview roles run as tenant A (impersonated, confined to two namespaces, per-namespace LISTs) and as
the platform; a tenant's commit that reaches out of its namespaces is refused by the policy before
any write, and by RBAC at the dry-run when there is no policy; adoption across tenants and an
impersonation the credentials may not make fail clearly, with nothing changed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import tasks_book
from gitfixtures import Repo
from helpers import cm, ok, unique_name

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def token_kubeconfig(path: Path, cluster_state: dict, kubeconfig: Path, token: str) -> str:
    """A kubeconfig with only a bearer token (and the cluster's CA): the identity is the token's."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": cluster_state["server"],
                                               "certificate-authority": str(kubeconfig.parent / "pki" / "ca.crt")}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)


@pytest.fixture
def tenancy(kubectl, namespace, tmp_path, cluster_state, kubeconfig):
    """The platform identity (a ServiceAccount bound to gitops-core-platform only) and the names of
    tenant A (namespaces a1, a2) and tenant B (b1)."""
    kubectl.run("apply", "--server-side", "-f", str(ROOT / "examples" / "rbac" / "platform.yaml"))
    kubectl.run("-n", namespace, "create", "serviceaccount", "platform")
    binding = f"{namespace}-platform"
    kubectl.run("create", "clusterrolebinding", binding, "--clusterrole=gitops-core-platform",
                f"--serviceaccount={namespace}:platform")
    token = kubectl.run("-n", namespace, "create", "token", "platform").stdout.strip()
    names = {"a": unique_name("ta", 6), "b": unique_name("tb", 6)}
    names.update(a1=names["a"] + "-1", a2=names["a"] + "-2", b1=names["b"] + "-1")
    yield dict(names, platform=token_kubeconfig(tmp_path / "platform.kc", cluster_state, kubeconfig, token))
    kubectl.run("delete", "clusterrolebinding", binding, check=False)
    kubectl.run("delete", "namespace", names["a1"], names["a2"], names["b1"], "--wait=false", check=False)


def play(name: str, role: str, variables: dict) -> str:
    return (f"- name: {name}\n  hosts: localhost\n  gather_facts: false\n  roles:\n"
            f"    - role: gitops.core.{role}\n      vars: {json.dumps(variables)}\n")


def shell(name: str, argv: list[str]) -> str:
    return (f"- name: {name}\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
            f"    - ansible.builtin.command: {json.dumps({'argv': argv})}\n      changed_when: false\n")


@pytest.mark.slow
def test_tenants_run_confined_under_the_documented_rbac_and_cannot_reach_out(
        tenancy, ansible_playbook, kubectl, kubeconfig, namespace, tmp_path, cluster_state):
    t = tenancy
    a1, a2, b1 = t["a1"], t["a2"], t["b1"]
    repo = Repo(tmp_path)
    app = [cm("web", a1, value="1"), cm("api", a2, value="1"),
           {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": a2},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}}}}]
    repo.commit({"app/all.yaml": yaml.safe_dump_all(app)})
    repo.commit({"app/all.yaml": yaml.safe_dump_all([cm("web", a1, value="2")] + app[1:])}, branch="pr-1")
    repo.commit({"plat/all.yaml": yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{namespace}-plat"}},
        cm("shared", f"{namespace}-plat", value="p")])}, branch="platform")
    a_account = f"{a1}/gitops-{t['a']}"
    tenant = {"service_account": a_account, "inventory_namespace": a1, "kubeconfig": t["platform"],
              "policy": {"namespaces": [a1, a2]}, "repo": repo.url, "path": ["app"], "set_name": f"{t['a']}-apps"}

    def as_tenant(prefix, **more):
        return {f"{prefix}_{k}": v for k, v in dict(tenant, **more).items()}
    admin = ["kubectl", "--kubeconfig", str(kubeconfig)]
    book = "".join([
        play("Bootstrap tenant A", "tenant", {"tenant_name": t["a"], "tenant_namespaces": [a1, a2],
                                              "tenant_kubeconfig": t["platform"],
                                              "tenant_platform_inventory_namespace": namespace}),
        play("Bootstrap tenant B", "tenant", {"tenant_name": t["b"], "tenant_namespaces": [b1],
                                              "tenant_kubeconfig": t["platform"],
                                              "tenant_platform_inventory_namespace": namespace}),
        play("Sync as tenant A", "sync", as_tenant("sync", wait_timeout=90, drift_check=False)),
        shell("Drift by hand", [*admin, "-n", a2, "scale", "deployment/web", "--replicas=3"]),
        play("Heal as tenant A", "drift", as_tenant("drift", remediate=True, fail_on_drift=False)),
        play("Preview as tenant A", "preview", as_tenant("preview", version="pr-1",
                                                         output=str(tmp_path / "preview.md"))),
        play("Sync as the platform", "sync", {"sync_repo": repo.url, "sync_version": "platform", "sync_path": ["plat"],
                                              "sync_set_name": f"{namespace}-plat", "sync_kubeconfig": t["platform"],
                                              "sync_inventory_namespace": namespace, "sync_drift_check": False}),
    ])
    run = ansible_playbook(book)
    assert run.rc == 0, run.stdout[-4000:]
    boot = run.results["tenant_bootstrap"]  # tenant B's, the last bootstrap
    assert sorted(boot["created"]) == sorted([
        f"Namespace {b1}", f"ServiceAccount {b1}/gitops-{t['b']}", f"rbac.authorization.k8s.io/Role {b1}/gitops-core-tenant",
        f"rbac.authorization.k8s.io/RoleBinding {b1}/gitops-core-tenant-{t['b']}"])
    synced = run.results["sync_reconcile"]  # the platform's sync, the last one
    assert synced["created"] == [f"Namespace {namespace}-plat", f"ConfigMap {namespace}-plat/shared"]
    # the tenant's set: applied in both namespaces, its inventory in its own namespace
    inventory = kubectl.json("-n", a1, "get", "configmap", f"gitops-set-{t['a']}-apps")
    assert inventory["data"]["objects"] == "3"
    assert kubectl.json("-n", a2, "get", "deployment", "web")["spec"]["replicas"] == 1  # healed from 3
    preview = (tmp_path / "preview.md").read_text()
    assert "`data.k`: \"1\" → \"2\"" in preview, preview
    assert kubectl.json("-n", a1, "get", "configmap", "web")["data"]["k"] == "1"  # the preview wrote nothing
    whoami = kubectl.run("auth", "can-i", "list", "configmaps", "--all-namespaces",
                         f"--as=system:serviceaccount:{a1}:gitops-{t['a']}", check=False).stdout.strip()
    assert whoami == "no"  # so the tenant's plan listed per namespace
    reach_out(t, ansible_playbook, kubectl, tmp_path, cluster_state, kubeconfig)


def reach_out(t, ansible_playbook, kubectl, tmp_path, cluster_state, kubeconfig):
    """A tenant's commit reaching out of its namespaces: refused by the policy before any write, by
    RBAC without one; adoption across tenants and a forbidden impersonation fail; nothing changed."""
    a1, b1 = t["a1"], t["b1"]
    a_token = kubectl.run("-n", a1, "create", "token", f"gitops-{t['a']}").stdout.strip()
    a_direct = token_kubeconfig(tmp_path / "a.kc", cluster_state, kubeconfig, a_token)
    as_a = {"kubeconfig": t["platform"], "impersonate_user": f"system:serviceaccount:{a1}:gitops-{t['a']}",
            "inventory_namespace": a1, "set_name": f"{t['a']}-apps"}
    policy = {"namespaces": [a1, t["a2"]]}
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": f"{t['a']}-root"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": f"gitops-{t['a']}", "namespace": a1}]}
    good = cm("good", a1, value="1")
    theirs = cm("theirs", b1, value="b")
    sources = [{"file": "app/good.yaml", "document": 1}, {"file": "app/evil.yaml", "document": 1}]
    tasks = [
        ("k8s_reconcile", {"kubeconfig": t["platform"], "impersonate_user": f"system:serviceaccount:{b1}:gitops-{t['b']}",
                           "inventory_namespace": b1, "set_name": f"{t['b']}-apps", "objects": [theirs]}),     # 0
        ("k8s_reconcile", dict(as_a, objects=[good, crb], sources=sources, policy=policy)),                    # 1
        ("k8s_reconcile", dict(as_a, objects=[good, cm("x", b1)], sources=sources, policy=policy)),            # 2
        ("k8s_reconcile", dict(as_a, objects=[good, {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": f"{t['a']}-3"}}],
                               sources=sources, policy=dict(policy, cluster_kinds=["Namespace"]))),           # 3
        ("k8s_reconcile", dict(as_a, objects=[good, crb], sources=sources)),                                   # 4
        ("k8s_reconcile", dict(as_a, objects=[good, dict(theirs, data={"k": "mine"})], adopt=True)),          # 5
        ("drift_check", {"kubeconfig": a_direct, "set_name": f"{t['a']}-x", "inventory_namespace": a1, "objects": [good],
                         "impersonate_user": f"system:serviceaccount:{b1}:gitops-{t['b']}"}),                 # 6
    ]
    played = ansible_playbook(tasks_book(tasks))
    r = [played.results[f"step{i}"] for i in range(len(tasks))]
    ok(r[0])
    for index, rule in ((1, "cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is not in "
                            "policy.cluster_kinds (none allowed)"),
                        (2, f"namespace {b1} is not in policy.namespaces"),
                        (3, f"Namespace {t['a']}-3 is not in policy.namespaces")):
        assert r[index]["failed"] and "outside its policy; nothing was changed" in r[index]["msg"], r[index]["msg"]
        assert rule in r[index]["msg"] and "(app/evil.yaml, document 1)" in r[index]["msg"]
        assert r[index]["violations"][0]["rule"].startswith(rule)
    # without a policy RBAC refuses it, at the plan's first read of the kind: the 403 names verb, resource, identity
    assert r[4]["failed"] and r[4]["msg"].startswith("forbidden: list clusterrolebindings: "), r[4]["msg"]
    assert f'User "system:serviceaccount:{a1}:gitops-{t["a"]}" cannot list resource "clusterrolebindings"' in r[4]["msg"]
    assert r[5]["failed"] and "forbidden" in r[5]["msg"] and b1 in r[5]["msg"], r[5]["msg"]
    assert r[6]["failed"] and "impersonate" in r[6]["msg"], r[6]["msg"]
    # nothing of any refused run was applied
    assert kubectl.run("-n", a1, "get", "configmap", "good", check=False).returncode != 0
    assert kubectl.run("get", "clusterrolebinding", f"{t['a']}-root", check=False).returncode != 0
    assert kubectl.json("-n", b1, "get", "configmap", "theirs")["data"] == {"k": "b"}
