"""Fixtures for tests that run against the real local control plane (make cluster-up)."""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR") or ROOT / ".cluster")


class Kubectl:
    """kubectl against the test cluster; every call's output is returned, failures raise."""

    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: int = 120,
            extra: tuple[str, ...] | None = None) -> subprocess.CompletedProcess:
        base = ["kubectl", *(extra if extra is not None else ("--kubeconfig", str(self.kubeconfig)))]
        proc = subprocess.run([*base, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def json(self, *args: str, **kw) -> dict:
        return json.loads(self.run(*args, "-o", "json", **kw).stdout)


@pytest.fixture(scope="session")
def cluster_state() -> dict:
    state_file = CLUSTER_DIR / "state.json"
    if not state_file.exists():
        pytest.fail(f"no running control plane ({state_file} missing): run `make cluster-up` first", pytrace=False)
    return json.loads(state_file.read_text())


@pytest.fixture(scope="session")
def kubeconfig(cluster_state) -> Path:
    return CLUSTER_DIR / "kubeconfig"


@pytest.fixture(scope="session")
def kubectl(kubeconfig) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture
def namespace(kubectl):
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
