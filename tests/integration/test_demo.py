"""`make demo` (hack/demo) tells the whole story and exits 0: sync a signed commit (a Secret in it
encrypted with SOPS, its value never printed), refuse an unsigned one, preview a branch, prune on
merge, drift named with who changed it, heal, roll back."""
from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from conftest import CALLBACK_ENV

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_make_demo_tells_the_whole_story():
    # the demo's playbooks share the test run's payloads (conftest.CALLBACK_ENV); `make demo` runs them as users do
    done = subprocess.run(["bash", str(ROOT / "hack" / "demo")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False, env=dict(os.environ, **CALLBACK_ENV))
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    assert "created 5, updated 0" in out
    assert "live Secret web-credentials has keys: password username (values not shown)" in out
    plain = "demo-password-4f1c9e"  # examples/demo-secret.yaml, in Git only encrypted
    log = (ROOT / ".cache" / "demo" / "last-run.log").read_text()
    for text in (out, done.stderr, log, (ROOT / ".cache" / "demo" / "preview.md").read_text()):
        assert plain not in text and base64.b64encode(plain.encode()).decode() not in text
    assert "it is not signed" in out and "live greeting: hello from git" in out
    assert "### Prune" in out and "`Service gitops-demo/web`" in out
    assert "pruned 1" in out and "service/web is gone" in out
    assert "| `spec.replicas` | 2 | 5 | kubectl (Update via scale) |" in out
    assert "live replicas: 2" in out and "back on main: 0 Service(s)" in out
