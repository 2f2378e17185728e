"""git_desired_state never talks to the cluster, so it must not need the kubernetes package."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[4] / ".collections"
PROBE = ("import sys; sys.path.insert(0, %r); import ansible_collections.gitops.core.plugins.modules.%s; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')[:1])")


def kubernetes_modules_after_importing(module):
    proc = subprocess.run([sys.executable, "-c", PROBE % (str(COLLECTIONS), module)], capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def test_git_desired_state_does_not_import_kubernetes():
    assert kubernetes_modules_after_importing("git_desired_state") == "[]"
    # the probe can fail: a cluster module does pull the package in
    assert kubernetes_modules_after_importing("k8s_reconcile") != "[]"
