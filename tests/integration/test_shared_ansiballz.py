"""callback_plugins/shared_ansiballz.py itself: the payloads the test runs share carry bytecode that Python
uses, never code other than the source beside it."""
from __future__ import annotations

import base64
import importlib.util
import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import tasks_book

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "shared_ansiballz", Path(__file__).parent / "callback_plugins" / "shared_ansiballz.py")
shared_ansiballz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shared_ansiballz)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return out.getvalue()


def _import_from(archive: Path) -> tuple[str, str]:
    """pkg.m's __file__ and VALUE, imported from `archive` by another Python process."""
    code = f"import sys; sys.path.insert(0, {str(archive)!r}); import pkg.m; print(pkg.m.__file__); print(pkg.m.VALUE)"
    path, value = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
    return path, value


def test_bytecode_is_used_and_never_outlives_its_source(tmp_path):
    files = {"pkg/__init__.py": b"", "pkg/m.py": b"VALUE = 'from the first source'\r\n"}
    with_pyc = base64.b64decode(shared_ansiballz.with_bytecode(base64.b64encode(_zip(files))))
    names = zipfile.ZipFile(io.BytesIO(with_pyc)).namelist()
    assert sorted(names) == ["pkg/__init__.py", "pkg/__init__.pyc", "pkg/m.py", "pkg/m.pyc"]

    archive = tmp_path / "payload.zip"
    archive.write_bytes(with_pyc)
    assert _import_from(archive) == (f"{archive}/pkg/m.pyc", "from the first source")

    # the same bytecode beside a changed source: Python compiles the source instead
    stale = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(with_pyc)) as src, zipfile.ZipFile(stale, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, b"VALUE = 'from the second source'\n" if info.filename == "pkg/m.py" else src.read(info))
    archive.write_bytes(stale.getvalue())
    assert _import_from(archive) == (f"{archive}/pkg/m.py", "from the second source")


@pytest.mark.skipif(shared_ansiballz._CachedModule is None, reason="ansible-core before 2.19 keeps its payloads as it builds them")
def test_playbook_payloads_carry_bytecode(ansible_playbook, tmp_path):
    cache = tmp_path / "ansiballz"
    run = ansible_playbook(tasks_book([("k8s_reconcile", {})]), env={"GITOPS_TEST_ANSIBALLZ_CACHE": str(cache)})
    assert "one of the following is required: objects, src, sets" in run.results["step0"]["msg"], run.stdout
    payload = cache / "ansible_collections.gitops.core.plugins.modules.k8s_reconcile-ZIP_DEFLATED-none"
    with payload.open("rb") as cached:
        names = set(zipfile.ZipFile(io.BytesIO(base64.b64decode(pickle.load(cached).zip_data))).namelist())
    sources = {name for name in names if name.endswith(".py")}
    assert "ansible_collections/gitops/core/plugins/module_utils/engine/plan.py" in sources
    assert {name + "c" for name in sources} == names - sources
