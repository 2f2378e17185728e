"""execution-environment.yml makes a valid ansible-builder build context (`ansible-builder
create`, no container engine needed); building the image itself needs podman or docker, which the
test machine does not have."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ansible_builder")
ROOT = Path(__file__).resolve().parents[2]


def test_ansible_builder_creates_a_build_context_from_the_definition(tmp_path):
    builder = shutil.which("ansible-builder", path=str(Path(sys.executable).parent))
    assert builder, "ansible-builder is in test-requirements.txt"
    done = subprocess.run([builder, "create", "-f", str(ROOT / "execution-environment.yml"),
                           "-c", str(tmp_path / "context"), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    assert "quay.io/ansible/awx-ee" in containerfile and "ansible-galaxy collection install" in containerfile
    assert (context / "_build" / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    assert (context / "_build" / "bindep.txt").read_text() == (ROOT / "bindep.txt").read_text()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {"name": "gitops.core"} in galaxy["collections"]


def test_the_collection_declares_its_dependencies_from_its_root():
    """meta/execution-environment.yml is what ansible-builder reads of an installed collection (and Galaxy
    checks on import): its files are named from the collection's root, and exist."""
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    assert all((ROOT / name).is_file() for name in meta["dependencies"].values())
