"""AWX and galaxy readiness: the collection tarball (`ansible-galaxy collection build`) installed
into an empty path, and its playbooks run by ansible-runner, the engine AWX runs jobs with:
sync.yml, drift_check.yml (clean: successful; drifted: failed) and preview.yml; the runner's status,
return code and the set_stats artifacts AWX hands to workflow nodes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from gitfixtures import Repo

from conftest import CLUSTER_DIR

ansible_runner = pytest.importorskip("ansible_runner")
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The built tarball installed into an empty collections path (the checkout is not on it)."""
    work = tmp_path_factory.mktemp("galaxy")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work), str(ROOT)],
                   check=True, capture_output=True)
    [tarball] = work.glob("gitops-core-*.tar.gz")
    dest = work / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(dest), str(tarball)],
                   check=True, capture_output=True, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest)))
    assert (dest / "ansible_collections" / "gitops" / "core" / "playbooks" / "sync.yml").exists()
    return dest


def run(installed, tmp_path, playbook, extravars):
    private = tmp_path / ("runner-" + uuid.uuid4().hex[:6])
    (private / "inventory").mkdir(parents=True)
    (private / "inventory" / "hosts").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    result = ansible_runner.run(
        private_data_dir=str(private), playbook=playbook, extravars=extravars, quiet=True,
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(installed), "PATH": "%s:%s" % (BIN, os.environ["PATH"]),
                 "ANSIBLE_LOCALHOST_WARNING": "0"})
    stats = next((e["event_data"].get("artifact_data") or {} for e in result.events
                  if e.get("event") == "playbook_on_stats"), {})
    return result, stats


@pytest.mark.slow
def test_playbooks_from_the_installed_tarball_under_ansible_runner(installed, kubectl, namespace, tmp_path):
    repo = Repo(tmp_path)
    repo.commit({"app/cm.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "awx", "namespace": namespace},
                                                "data": {"k": "v"}})})
    kubeconfig = str(CLUSTER_DIR / "kubeconfig")
    set_name = "awx-" + namespace[2:]
    sync_vars = {"sync_repo": repo.url, "sync_set_name": set_name, "sync_path": ["app"],
                 "sync_kubeconfig": kubeconfig, "sync_wait": False}
    drift_vars = {"drift_repo": repo.url, "drift_set_name": set_name, "drift_path": ["app"],
                  "drift_kubeconfig": kubeconfig}

    synced, stats = run(installed, tmp_path, "gitops.core.sync", sync_vars)
    assert synced.status == "successful" and synced.rc == 0, synced.stdout.read()[-3000:]
    assert stats["gitops_sync"]["created"] in (1, "1") and stats["gitops_sync"]["commit"] == repo.git(
        "rev-parse", "HEAD").strip(), stats

    clean, stats = run(installed, tmp_path, "gitops.core.drift_check", drift_vars)
    assert clean.status == "successful" and clean.rc == 0
    assert stats["gitops_drift"]["drift"] in (False, "False"), stats

    kubectl.run("-n", namespace, "patch", "configmap", "awx", "-p", json.dumps({"data": {"k": "hand-edited"}}))
    drifted, stats = run(installed, tmp_path, "gitops.core.drift_check", drift_vars)
    assert drifted.status == "failed" and drifted.rc != 0
    assert stats["gitops_drift"]["drifted"] == ["ConfigMap %s/awx" % namespace], stats

    repo.commit({"app/cm2.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "awx2", "namespace": namespace}})},
                branch="pr-1")
    out = tmp_path / "plan.md"
    preview, stats = run(installed, tmp_path, "gitops.core.preview", {
        "preview_repo": repo.url, "preview_version": "pr-1", "preview_set_name": set_name,
        "preview_path": ["app"], "preview_kubeconfig": kubeconfig, "preview_output": str(out)})
    assert preview.status == "successful" and preview.rc == 0
    assert stats["gitops_preview"]["created"] in (1, "1") and "ConfigMap %s/awx2" % namespace in out.read_text()
