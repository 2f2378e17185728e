"""ansible-playbook (newest and oldest supported ansible-core) runs with this collection on its
path against the local control plane."""
from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.compat]


def test_playbook_with_the_collections_action_group_reaches_the_cluster(ansible_playbook):
    run = ansible_playbook("""
- name: Smoke
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/gitops.core.gitops:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: List nodes
      ansible.builtin.command: kubectl --kubeconfig {{ kubeconfig }} get nodes -o json
      register: nodes
      changed_when: false
    - name: Ansible version
      ansible.builtin.debug:
        var: ansible_version.full
    - name: The sets of the cluster, the kubeconfig from the action group's defaults
      gitops.core.set_info:
        set_name: no-such-set
      register: info
""")
    assert run.rc == 0, run.stdout + run.stderr
    nodes = json.loads(run.results["nodes"]["stdout"])["items"]
    assert sorted(n["metadata"]["name"] for n in nodes)[:2] == ["kwok-node-0", "kwok-node-1"]
    assert run.results["info"]["sets"] == [] and run.results["info"]["summary"] == {"sets": 0}


def test_git_desired_state_runs_on_this_ansible_core(ansible_playbook, tmp_path):
    from gitfixtures import Repo

    repo = Repo(tmp_path)
    sha = repo.commit({"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: smoke}\n"})
    run = ansible_playbook("""
- name: Smoke git_desired_state
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Fetch
      gitops.core.git_desired_state:
        repo: %s
        dest: %s
      register: desired
""" % (repo.url, tmp_path / "cache"))
    assert run.rc == 0, run.stdout + run.stderr
    assert run.results["desired"]["commit"] == sha
    assert run.results["desired"]["objects"][0]["metadata"]["name"] == "smoke"
