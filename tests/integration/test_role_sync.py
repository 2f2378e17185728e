"""The gitops.core.sync role: pull, converge, verify, report; a second run changes nothing."""
from __future__ import annotations

import re

import pytest
from conftest import roles_book
from gitfixtures import Keys, Repo

pytestmark = pytest.mark.integration

APP = """apiVersion: v1
kind: ConfigMap
metadata: {name: role-cm, namespace: %(ns)s}
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: role-web, namespace: %(ns)s}
spec:
  replicas: 1
  selector: {matchLabels: {app: role-web}}
  template:
    metadata: {labels: {app: role-web}}
    spec:
      containers: [{name: web, image: registry.invalid/web:1}]
"""


def recap(stdout):
    return {k: int(v) for k, v in re.findall(r"(ok|changed|failed)=(\d+)", stdout.split("PLAY RECAP")[-1])}


@pytest.mark.slow
def test_role_syncs_a_signed_repo_and_is_idempotent(ansible_playbook, kubectl, namespace, tmp_path):
    (tmp_path / "keys").mkdir()
    keys = Keys(tmp_path / "keys")
    repo = Repo(tmp_path, keys)
    sha = repo.commit({"apps/app.yaml": APP % {"ns": namespace}}, signer="bob")
    book = roles_book(("sync", {"sync_repo": repo.url, "sync_set_name": f"role-{namespace}", "sync_verify": "head",
                                "sync_allowed_signers": keys.allowed_signers, "sync_kubeconfig": "{{ kubeconfig }}",
                                "sync_wait_timeout": 90, "sync_report_dir": str(tmp_path / "reports")}))
    first = ansible_playbook(book, env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert first.rc == 0, first.stdout + first.stderr
    # set_stats for AWX workflow nodes and ansible-runner artifacts (printed as CUSTOM STATS here)
    stats = first.stdout.split("CUSTOM STATS")[-1]
    assert sha in stats and '"created": 2' in stats and '"signer": "bob@example.com"' in stats, stats
    assert '"healthy": true' in stats and '"in_sync": 2' in stats, stats
    assert "role-%s at %s" % (namespace, sha[:12]) in first.stdout
    assert "created 2, updated 0, adopted 0, pruned 0, unchanged 0" in first.stdout
    assert kubectl.json("-n", namespace, "get", "deployment", "role-web")["status"]["readyReplicas"] == 1
    assert (tmp_path / "reports" / "drift.junit.xml").exists()
    second = ansible_playbook(book)
    assert second.rc == 0, second.stdout
    assert recap(second.stdout)["changed"] == 0, second.stdout
    unsigned = repo.commit({"apps/app.yaml": (APP % {"ns": namespace}).replace("hello", "tampered")})
    third = ansible_playbook(book)
    assert third.rc != 0 and "commit %s: it is not signed" % unsigned[:12] in third.stdout
    assert kubectl.json("-n", namespace, "get", "configmap", "role-cm")["data"]["greeting"] == "hello"
