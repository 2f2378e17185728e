"""Each module loads what it uses and nothing more: git_desired_state never talks to the cluster
(no kubernetes package, no engine), k8s_capabilities needs neither the comparison engine nor the
source side, and the cluster modules do not load the source side or each other's orchestrator."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[4] / ".collections"
UTILS = "ansible_collections.gitops.core.plugins.module_utils."
PROBE = ("import json, sys; sys.path.insert(0, %r); import ansible_collections.gitops.core.plugins.modules.%s; "
         "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes' or m.startswith(%r))))")
SOURCE_SIDE = {"source.gitsource", "source.signatures", "source.render", "source.helm", "source.desired_state",
               "common.runner"}
ENGINE = {"engine.engine", "engine.plan", "engine.apply", "engine.delete", "engine.wait", "engine.converge",
          "observe.compare", "observe.managedfields", "report.result"}


def loaded(module):
    """The kubernetes modules (as 'kubernetes') and our module_utils (as layer.file) that importing `module` loads."""
    proc = subprocess.run([sys.executable, "-c", PROBE % (str(COLLECTIONS), module, UTILS)], capture_output=True,
                          text=True, check=True)
    names = json.loads(proc.stdout)
    return {"kubernetes" if n.startswith("kubernetes") else n[len(UTILS):] for n in names}


@pytest.mark.parametrize("module, must_not_load", [
    ("git_desired_state", {"kubernetes", "cluster.kube", "cluster.kubeconfig", "cluster.discovery"} | ENGINE),
    ("k8s_capabilities", SOURCE_SIDE | ENGINE | {"source.manifests", "cluster.set_args"}),
    ("k8s_reconcile", SOURCE_SIDE | {"jobs.drift", "report.report", "observe.ignore"}),
    ("drift_check", SOURCE_SIDE | {"jobs.reconcile"}),
])
def test_each_module_loads_only_what_it_uses(module, must_not_load):
    assert loaded(module) & must_not_load == set()


def test_git_desired_state_loads_no_layer_that_talks_to_a_cluster():
    """Not one file of the cluster, observe, engine, report or jobs layers: only the source side and common."""
    layers = {name.split(".")[0] for name in loaded("git_desired_state") if "." in name}
    assert layers == {"common", "source"}


def test_the_probe_can_fail():
    """A cluster module does load the kubernetes package and the engine."""
    assert {"kubernetes", "engine.engine", "observe.compare"} <= loaded("k8s_reconcile")
