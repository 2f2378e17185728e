"""The gitops.core.preview role through playbooks/preview.yml: a pull request's branch planned
against the live cluster (server-side dry-run) and written as Markdown; nothing is written to the
cluster; a branch a guard would refuse fails the job, with the refusal in the plan."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from gitfixtures import Repo
from helpers import cm

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECRET = "preview-s3cret-41"


def secret(ns, value):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
            "stringData": {"password": value}}


@pytest.mark.slow
def test_preview_writes_the_plan_and_changes_nothing(ansible_playbook, kubectl, namespace, tmp_path):
    repo = Repo(tmp_path)
    main = [cm("kept", namespace, value="1"), cm("leaving", namespace, value="x"), secret(namespace, SECRET)]
    repo.commit({"app/all.yaml": yaml.safe_dump_all(main)})
    set_name = "prev-" + namespace[2:]
    sync = ansible_playbook((ROOT / "playbooks" / "sync.yml").read_text(), extra_vars={
        "sync_repo": repo.url, "sync_set_name": set_name, "sync_path": ["app"], "sync_kubeconfig": "{{ kubeconfig }}",
        "sync_wait": False})
    assert sync.rc == 0, sync.stdout[-3000:]

    # the pull request: one value changed, one object added, one removed, the Secret's value changed, a hook added
    hook = cm("notify", namespace, value="n", annotations={"helm.sh/hook": "post-install,post-upgrade"})
    branch = [cm("kept", namespace, value="2"), cm("new", namespace, value="n"), secret(namespace, SECRET + "-rotated"),
              hook]
    repo.commit({"app/all.yaml": yaml.safe_dump_all(branch)}, branch="pr-7")
    out = tmp_path / "preview.md"
    book = (ROOT / "playbooks" / "preview.yml").read_text()
    common = {"preview_repo": repo.url, "preview_set_name": set_name, "preview_path": ["app"],
              "preview_kubeconfig": "{{ kubeconfig }}", "preview_output": str(out)}
    run = ansible_playbook(book, extra_vars=dict(common, preview_version="pr-7"))
    assert run.rc == 0, run.stdout[-3000:]
    md = out.read_text()
    counts = re.search(r"\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", md).groups()
    assert counts == ("1", "2", "0", "0", "1", "0", "1"), md  # create, update, adopt, recreate, prune, unchanged, hooks
    assert "### Helm hooks\n\n- `ConfigMap %s/notify` (post-install,post-upgrade, weight 0): **runs** - post-install " \
           "hook: first sync of ConfigMap %s/notify" % (namespace, namespace) in md, md
    assert "### Create\n\n- `ConfigMap %s/new` (app/all.yaml, document 2)" % namespace in md, md
    assert "`data.k`: \"1\" → \"2\"" in md, md
    assert "### Prune\n\n- `ConfigMap %s/leaving`" % namespace in md, md
    assert "`data.password`: \"(hidden)\" → \"(hidden)\" (changed (values hidden))" in md, md
    assert SECRET not in md and SECRET not in run.stdout
    # nothing was written: the live objects are as the main branch left them
    assert kubectl.json("-n", namespace, "get", "configmap", "kept")["data"]["k"] == "1"
    assert kubectl.run("-n", namespace, "get", "configmap", "new", check=False).returncode != 0
    assert kubectl.run("-n", namespace, "get", "configmap", "leaving", check=False).returncode == 0

    # a branch that empties the set: the guard would refuse it; the job fails and the plan says why
    repo.commit({"app/all.yaml": None, "app/README.md": "nothing here"}, branch="pr-8")
    refused = ansible_playbook(book, extra_vars=dict(common, preview_version="pr-8"))
    assert refused.rc != 0 and "would be refused" in refused.stdout
    md = out.read_text()
    assert "A sync of this commit would be refused" in md and "empty" in md, md
    assert "Would prune:" in md and "`ConfigMap %s/kept`" % namespace in md, md
    assert kubectl.json("-n", namespace, "get", "configmap", "kept")["data"]["k"] == "1"
