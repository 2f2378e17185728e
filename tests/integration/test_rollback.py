"""Rollback, GitOps style, through playbooks/sync.yml: sync commit B, pin back to commit A with
`sync_version` (what B added is pruned, fields B changed are restored; the pinned commit must still
be signed), then return to the branch head (B again)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from gitfixtures import Keys, Repo
from helpers import cm

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pin_back_to_an_older_commit_then_return(ansible_playbook, kubectl, namespace, tmp_path):
    (tmp_path / "keys").mkdir()
    keys = Keys(tmp_path / "keys")
    repo = Repo(tmp_path, keys)
    commit_a = repo.commit({"app/all.yaml": yaml.safe_dump_all([cm("web", namespace, value="a")])}, signer="bob")
    both = [cm("web", namespace, value="b"), cm("extra", namespace, value="b")]
    commit_b = repo.commit({"app/all.yaml": yaml.safe_dump_all(both)}, signer="bob")
    book = (ROOT / "playbooks" / "sync.yml").read_text()
    common = {"sync_repo": repo.url, "sync_set_name": "rb-" + namespace[2:], "sync_path": ["app"],
              "sync_kubeconfig": "{{ kubeconfig }}", "sync_wait": False, "sync_verify": "head",
              "sync_allowed_signers": keys.allowed_signers}

    def live():
        got = kubectl.json("-n", namespace, "get", "configmaps", "-l", "gitops.core/set")["items"]
        return {o["metadata"]["name"]: o["data"]["k"] for o in got}

    def revision():
        inv = kubectl.json("-n", "gitops-system", "get", "configmap", "gitops-set-" + common["sync_set_name"])
        return inv["data"]["revision"]

    assert ansible_playbook(book, extra_vars=common).rc == 0
    assert live() == {"web": "b", "extra": "b"} and revision() == commit_b

    pinned = ansible_playbook(book, extra_vars=dict(common, sync_version=commit_a))  # the emergency pin
    assert pinned.rc == 0, pinned.stdout[-3000:]
    assert live() == {"web": "a"} and revision() == commit_a  # B's object pruned, B's field restored

    back = ansible_playbook(book, extra_vars=common)  # the pin lifted: the branch head again
    assert back.rc == 0, back.stdout[-3000:]
    assert live() == {"web": "b", "extra": "b"} and revision() == commit_b
