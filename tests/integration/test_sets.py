"""A cluster's sets declared in Git (docs/sets.md), through the sync role: dependency order gated on
health, a failing set's dependents skipped while unrelated sets go on, an identity and a policy per
set, a cycle refused with nothing applied, an unchanged re-run that writes nothing, and a set that
left the declaration abandoned, then pruned whole."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import roles_book
from gitfixtures import Keys, Repo
from helpers import wait_until

# the event source as ansible-rulebook finds it: by path, inside ansible_collections/gitops/core
AGENT = (Path(__file__).resolve().parents[2] / ".collections" / "ansible_collections" / "gitops" / "core" / "extensions"
         / "eda" / "plugins" / "event_source" / "k8s_drift.py")

pytestmark = pytest.mark.integration

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %(plural)s.%(group)s}
spec:
  group: %(group)s
  names: {kind: Gadget, plural: %(plural)s, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
GADGET = """apiVersion: %(group)s/v1
kind: Gadget
metadata: {name: g1, namespace: %(ns)s}
spec: {size: 3}
"""
CM = """apiVersion: v1
kind: ConfigMap
metadata: {name: %(name)s, namespace: %(ns)s}
data: {k: v}
"""
TENANT_RBAC = """apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: %(ns)s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: %(ns)s}
rules: [{apiGroups: ["", coordination.k8s.io], resources: [configmaps, leases], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: %(ns)s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: ServiceAccount, name: deployer, namespace: %(ns)s}]
"""


def declaration(p: str, ns: str, prune: bool, names: list[str], extra: str = "") -> str:
    sets = {
        "crds": "  - {name: %s-crds, path: crds}\n" % p,
        "gadgets": "  - {name: %s-gadgets, path: gadgets, depends_on: [%s-crds], namespace: %s}\n" % (p, p, ns),
        "broken": "  - {name: %s-broken, path: broken}\n" % p,
        "after": "  - {name: %s-after, path: after, depends_on: [%s-broken]}\n" % (p, p),
        "free": "  - {name: %s-free, path: free}\n" % p,
        "tenant": ("  - {name: %s-tenant, path: tenant, service_account: %s/deployer, inventory_namespace: %s,\n"
                   "     policy: {namespaces: [%s]}}\n" % (p, ns, ns, ns)),
        "intruder": "  - {name: %s-intruder, path: intruder, service_account: %s/deployer, inventory_namespace: %s}\n"
                    % (p, ns, ns),
    }
    return ("name: %s\nprune: %s\nmax_deletions: 5\nsets:\n" % (p, "true" if prune else "false")
            + "".join(sets[n] for n in names) + extra)


def converged(stdout: str) -> dict:
    """The sync role's k8s_reconcile result, read from the task's output (shown when it failed, or with -v)."""
    task = stdout.split("TASK [gitops.core.sync : Converge the declared sets")[1].split("\nTASK [")[0]
    return json.loads(task.split(" => ", 1)[1].split("\n...ignoring")[0])


def by_set(result: dict) -> dict:
    return {e["set"]: e for e in result["sets"]}


@pytest.mark.slow
def test_declared_sets_run_in_dependency_order_skip_dependents_of_a_failure_and_prune_a_removed_set_whole(
        ansible_playbook, kubectl, namespace, tmp_path):
    ns, p = namespace, "d%s" % namespace[-8:]
    group = "%s.example.com" % p
    kubectl.run("apply", "-f", "-", input=TENANT_RBAC % {"ns": ns})
    files = {"crds/crd.yaml": CRD % {"group": group, "plural": "gadgets"},
             "gadgets/g.yaml": GADGET % {"group": group, "ns": ns},
             "broken/cm.yaml": CM % {"name": "Not_Valid", "ns": ns},
             "after/cm.yaml": CM % {"name": "after", "ns": ns},
             "free/cm.yaml": CM % {"name": "free", "ns": ns},
             "tenant/cm.yaml": CM % {"name": "tenant", "ns": ns},
             "intruder/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: %s}\n" % ns}
    all_sets = ["crds", "gadgets", "broken", "after", "free", "tenant", "intruder"]
    repo = Repo(tmp_path)
    repo.commit(dict(files, **{"clusters/prod/sets.yaml": declaration(p, ns, False, all_sets)}))
    variables = {"sync_repo": repo.url, "sync_sets_file": "clusters/prod/sets.yaml", "sync_kubeconfig": "{{ kubeconfig }}",
                 "sync_wait_timeout": 60}
    first = ansible_playbook(roles_book(("sync", variables)))
    out = first.stdout + first.stderr
    # the failing set fails, its dependent is skipped naming why, every other set is applied
    assert first.rc != 0
    assert "%s-broken failed: " % p in out and "Not_Valid" in out, out
    assert "%s-after skipped: its dependency '%s-broken' failed" % (p, p) in out, out
    assert kubectl.json("-n", ns, "get", "gadget.%s" % group, "g1")["spec"]["size"] == 3
    entries = by_set(converged(first.stdout))
    crds, gadgets = entries["%s-crds" % p], entries["%s-gadgets" % p]
    assert crds["health"][0]["healthy"] and gadgets["started"] >= crds["finished"]  # only once the CRD is Established
    assert entries["%s-free" % p]["started"] < crds["finished"]  # independent sets run side by side
    for name in ("free", "tenant"):
        assert kubectl.json("-n", ns, "get", "configmap", name)["metadata"]["labels"]["gitops.core/set"] == "%s-%s" % (p, name)
    assert kubectl.run("-n", ns, "get", "configmap", "after", check=False).returncode != 0
    # the tenant sets run as their ServiceAccount: what its RBAC allows is applied, a Secret it may not write refused
    assert "%s-intruder failed: " % p in out and "system:serviceaccount:%s:deployer" % ns in out, out
    assert kubectl.run("-n", ns, "get", "secret", "s", check=False).returncode != 0
    assert kubectl.json("-n", ns, "get", "configmap", "gitops-set-%s-tenant" % p)["data"]["objects"] == "1"
    recorded = json.loads(kubectl.json("-n", "gitops-system", "get", "configmap", "gitops-sets-%s" % p)["data"]["sets.json"])
    assert sorted(recorded) == sorted("%s-%s" % (p, n) for n in all_sets)
    # a set reaching outside its declared policy is refused by the plan, naming the rule; the others go on
    outside = CM % {"name": "outside", "ns": "default"}
    repo.commit({"tenant/outside.yaml": outside, "broken/cm.yaml": CM % {"name": "fixed", "ns": ns}})
    second = ansible_playbook(roles_book(("sync", variables)))
    assert second.rc != 0 and "%s-tenant failed: " % p in second.stdout and "ConfigMap default/outside" in second.stdout
    assert "%s-broken failed" % p not in second.stdout
    assert kubectl.json("-n", ns, "get", "configmap", "after")["data"] == {"k": "v"}  # its dependency now succeeds
    assert kubectl.run("get", "configmap", "outside", check=False).returncode != 0
    # a cycle is refused naming it, nothing applied
    cyclic = declaration(p, ns, False, ["crds", "free"]).replace("path: crds}", "path: crds, depends_on: [%s-free]}" % p) \
        .replace("path: free}", "path: free, depends_on: [%s-crds]}" % p)
    repo.commit({"clusters/prod/sets.yaml": cyclic, "free/cm.yaml": (CM % {"name": "free", "ns": ns}).replace("{k: v}", "{k: v, new: key}"),
                 "tenant/outside.yaml": None})
    third = ansible_playbook(roles_book(("sync", variables)))
    assert third.rc != 0 and "%s-crds -> %s-free -> %s-crds" % (p, p, p) in third.stdout, third.stdout
    assert "new" not in kubectl.json("-n", ns, "get", "configmap", "free")["data"]
    # free leaves the declaration: abandoned (its object stays), reported; then pruned whole when it says prune
    kept = ["crds", "gadgets", "broken", "after", "tenant"]
    repo.commit({"clusters/prod/sets.yaml": declaration(p, ns, False, kept)})
    fourth = ansible_playbook(roles_book(("sync", variables)))
    assert fourth.rc == 0, fourth.stdout + fourth.stderr
    assert kubectl.json("-n", ns, "get", "configmap", "free")["data"]["k"] == "v"
    # an unchanged re-run writes nothing: no apply, no Lease, no delete
    fifth = ansible_playbook(roles_book(("sync", variables)), args=("-v",))
    assert fifth.rc == 0, fifth.stdout
    unchanged = converged(fifth.stdout)
    assert not unchanged["changed"] and set(unchanged["api_requests"]) <= {"discovery", "get", "list"}, unchanged
    assert all("lock" not in e for e in unchanged["sets"])
    repo.commit({"clusters/prod/sets.yaml": declaration(p, ns, True, kept)})
    sixth = ansible_playbook(roles_book(("sync", variables)))
    assert sixth.rc == 0, sixth.stdout + sixth.stderr
    assert kubectl.run("-n", ns, "get", "configmap", "free", check=False).returncode != 0
    assert kubectl.run("-n", "gitops-system", "get", "configmap", "gitops-set-%s-free" % p, check=False).returncode != 0
    recorded = json.loads(kubectl.json("-n", "gitops-system", "get", "configmap", "gitops-sets-%s" % p)["data"]["sets.json"])
    assert "%s-free" % p not in recorded
    # drift across sets: a hand edit in one set is reported for that set alone, and healed under its own Lease;
    # then a pull request touching three sets is previewed, one plan per set, nothing written
    kubectl.run("-n", ns, "patch", "configmap", "after", "--type=merge", "-p", '{"data":{"k":"edited"}}')
    repo.commit({"gadgets/g.yaml": (GADGET % {"group": group, "ns": ns}).replace("size: 3", "size: 4"),
                 "after/cm.yaml": (CM % {"name": "after", "ns": ns}).replace("{k: v}", "{k: v, more: data}"),
                 "tenant/extra.yaml": CM % {"name": "extra", "ns": ns}}, message="touch three sets", branch="pr-9")
    plan = tmp_path / "plan.md"
    seventh = ansible_playbook(roles_book(
        ("drift", {"drift_repo": repo.url, "drift_sets_file": "clusters/prod/sets.yaml", "drift_remediate": True,
                   "drift_kubeconfig": "{{ kubeconfig }}"}),
        ("preview", {"preview_repo": repo.url, "preview_version": "pr-9", "preview_sets_file": "clusters/prod/sets.yaml",
                     "preview_kubeconfig": "{{ kubeconfig }}", "preview_output": str(plan)})),
        env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert seventh.rc == 0, seventh.stdout + seventh.stderr
    stats = seventh.stdout.split("CUSTOM STATS")[-1]
    assert '"drifted_sets":["%s-after"]' % p in stats.replace("\n", "").replace(" ", ""), stats
    assert "%s-after: ConfigMap %s/after" % (p, ns) in stats, stats
    assert "%s-after: ConfigMap %s/after" % (p, ns) in stats.split('"healed"')[1], stats
    assert kubectl.json("-n", ns, "get", "configmap", "after")["data"]["k"] == "v"  # healed
    md = plan.read_text()
    for name in ("gadgets", "after", "tenant"):
        assert "| `%s-%s` | changes |" % (p, name) in md, md
        assert "### `%s-%s`" % (p, name) in md, md
    assert "| `%s-crds` | no change |" % p in md and "### `%s-crds`" % p not in md, md
    assert "`ConfigMap %s/extra`" % ns in md and "`spec.size`: 3 → 4" in md, md
    assert kubectl.json("-n", ns, "get", "gadget.%s" % group, "g1")["spec"]["size"] == 3  # a preview writes nothing
    # the event source watches every set of the declaration, and follows it: a set a sync adds is watched from then on
    agent = subprocess.Popen([sys.executable, str(AGENT), "--declaration", p], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, K8S_AUTH_KUBECONFIG=str(kubectl.kubeconfig)))
    events: list[dict] = []
    threading.Thread(target=lambda: events.extend(ast.literal_eval(line) for line in agent.stdout), daemon=True).start()
    try:
        def seen(set_name, change):
            return any(e["gitops"]["set"] == set_name and e["gitops"]["change"] == change for e in list(events))
        wait_until(lambda: seen("%s-after" % p, "startup") and seen("%s-gadgets" % p, "startup"), timeout=90)
        kubectl.run("-n", ns, "patch", "configmap", "after", "--type=merge", "-p", '{"data":{"k":"by-hand"}}')
        wait_until(lambda: seen("%s-after" % p, "modified"), timeout=30)
        hit = next(e["gitops"] for e in events if e["gitops"]["change"] == "modified")
        assert hit["fields"] == ["data.k"] and "by-hand" not in str(events)
        repo.commit({"clusters/prod/sets.yaml": declaration(p, ns, True, kept + ["free"])})
        eighth = ansible_playbook(roles_book(("sync", variables)))
        assert eighth.rc == 0, eighth.stdout + eighth.stderr
        kubectl.run("-n", ns, "patch", "configmap", "free", "--type=merge", "-p", '{"data":{"k":"by-hand"}}')
        wait_until(lambda: seen("%s-free" % p, "modified"), timeout=60)
    finally:
        agent.kill()
        agent.wait()


@pytest.mark.slow
def test_a_set_from_another_repository_is_verified_by_its_own_rule_with_the_keys_the_play_names(
        ansible_playbook, kubectl, namespace, tmp_path):
    ns, p = namespace, "r%s" % namespace[-8:]
    (tmp_path / "keys").mkdir()
    keys = Keys(tmp_path / "keys")
    team = Repo(tmp_path, keys, name="team.git")
    unsigned = team.commit({"app/cm.yaml": CM % {"name": "team", "ns": ns}})
    root = Repo(tmp_path)
    root.commit({"own/cm.yaml": CM % {"name": "own", "ns": ns}, "sets.yaml": (
        "name: %s\nsets:\n  - {name: %s-own, path: own}\n"
        "  - {name: %s-team, path: app, repo: {url: '%s', version: main, verify: head, trust: team-a}}\n"
        % (p, p, p, team.url))})
    book = roles_book(("sync", {"sync_repo": root.url, "sync_sets_file": "sets.yaml", "sync_kubeconfig": "{{ kubeconfig }}",
                                "sync_trusted_keys": {"team-a": {"allowed_signers": keys.allowed_signers}}}))
    refused = ansible_playbook(book)
    assert refused.rc != 0
    assert "set '%s-team' (repository %s): commit %s: it is not signed" % (p, team.url, unsigned[:12]) in refused.stdout, \
        refused.stdout
    assert kubectl.run("-n", ns, "get", "configmap", "own", check=False).returncode != 0  # nothing applied, no set
    team.commit({"app/cm.yaml": CM % {"name": "team", "ns": ns}}, signer="bob")
    applied = ansible_playbook(book)
    assert applied.rc == 0, applied.stdout + applied.stderr
    assert kubectl.json("-n", ns, "get", "configmap", "team")["metadata"]["labels"]["gitops.core/set"] == "%s-team" % p
    assert kubectl.json("-n", ns, "get", "configmap", "own")["metadata"]["labels"]["gitops.core/set"] == "%s-own" % p
