"""callback_plugins/shared_ansiballz.py itself: the payloads the test runs share carry bytecode that Python
uses, never code other than the source beside it."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
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


def _import_from(archive: Path) -> list:
    """pkg.m's __file__, VALUE, the type of f's annotation of `a` and f's file name, imported from `archive` by
    another Python process."""
    code = (f"import json, sys; sys.path.insert(0, {str(archive)!r}); import pkg.m; print(json.dumps(["
            "pkg.m.__file__, pkg.m.VALUE, type(pkg.m.f.__annotations__['a']).__name__, pkg.m.f.__code__.co_filename]))")
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _rewrite(archive: Path, name: str, change) -> None:
    """Replace entry `name` of the zip `archive` by change(its bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change(src.read(info)) if info.filename == name else src.read(info))
    archive.write_bytes(out.getvalue())


def test_bytecode_is_used_and_never_outlives_its_source(tmp_path):
    files = {"pkg/__init__.py": b"", "pkg/m.py": b"VALUE = 'from the first source'\r\ndef f(a: int): pass\r\n",
             "pkg/broken.py": b"return 1\n"}
    with_pyc = base64.b64decode(shared_ansiballz.with_bytecode(base64.b64encode(_zip(files))))
    names = zipfile.ZipFile(io.BytesIO(with_pyc)).namelist()
    # a file Python cannot compile gets no bytecode: its import reports it as before
    assert sorted(names) == ["pkg/__init__.py", "pkg/__init__.pyc", "pkg/broken.py", "pkg/m.py", "pkg/m.pyc"]

    archive = tmp_path / "payload.zip"
    archive.write_bytes(with_pyc)
    # the bytecode is used, compiled as the source is (the callback's own `from __future__ import annotations`
    # would make the annotation a string)
    assert _import_from(archive) == [f"{archive}/pkg/m.pyc", "from the first source", "type", "/pkg/m.py"]

    # bytecode of another Python version (its magic number): the source is compiled instead
    _rewrite(archive, "pkg/m.pyc", lambda pyc: b"\0\0\r\n" + pyc[4:])
    assert _import_from(archive) == [f"{archive}/pkg/m.py", "from the first source", "type", f"{archive}/pkg/m.py"]

    # the bytecode beside a changed source: Python compiles the source instead
    archive.write_bytes(with_pyc)
    _rewrite(archive, "pkg/m.py", lambda _: b"VALUE = 'from the second source'\ndef f(a: int): pass\n")
    assert _import_from(archive) == [f"{archive}/pkg/m.py", "from the second source", "type", f"{archive}/pkg/m.py"]


@pytest.mark.skipif(shared_ansiballz._CachedModule is None, reason="ansible-core before 2.19 keeps its payloads as it builds them")
def test_playbook_payloads_carry_bytecode(ansible_playbook, tmp_path):
    cache = tmp_path / "ansiballz"
    # the first task's worker builds the payload and stores it; the second's runs the module from the stored one
    run = ansible_playbook(tasks_book([("k8s_reconcile", {}), ("k8s_reconcile", {})]),
                           env={"GITOPS_TEST_ANSIBALLZ_CACHE": str(cache)})
    for step in ("step0", "step1"):
        assert "one of the following is required: objects, src, sets" in run.results[step]["msg"], run.stdout
    payload = cache / "ansible_collections.gitops.core.plugins.modules.k8s_reconcile-ZIP_DEFLATED-none"
    with payload.open("rb") as cached:
        names = set(zipfile.ZipFile(io.BytesIO(base64.b64decode(pickle.load(cached).zip_data))).namelist())
    sources = {name for name in names if name.endswith(".py")}
    assert "ansible_collections/gitops/core/plugins/module_utils/engine/plan.py" in sources
    assert {name + "c" for name in sources} == names - sources
