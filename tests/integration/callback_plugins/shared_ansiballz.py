# Test helper, not part of the collection: the ansible-playbook runs of one test run share their AnsiballZ payloads.
"""ansible-core builds a module's AnsiballZ payload (the module and every module_utils file it imports, found
by parsing each) once per process, 0.4-0.5 s of CPU for each module of this collection, and keeps it in
`ansiballz_cache` under its private temporary folder.  When GITOPS_TEST_ANSIBALLZ_CACHE names a folder
(conftest.py: one per ansible-core version, installed collection content and this file), that `ansiballz_cache`
is a link to it, so ansible-core builds each payload once per test run instead of once per playbook.  The
payloads are ansible-core's own, built and locked by it; the link is removed with the private folder.

Each module run then imports the payload's Python files from the zip, and Python's zip importer compiles each
one from source every time (it cannot write a bytecode cache into the zip): about 0.3 CPU-s of a 1 CPU-s
k8s_reconcile run, most of make test's CPU over some 550 module runs.  So the payload is stored with each
file's bytecode beside its source, compiled once per test run.  The bytecode is "checked hash-based" (PEP 552):
at import, Python compares the hash in it with the source beside it in the zip and compiles the source
instead when they differ, or when the interpreter running the module is another Python version.  The module
runs the same source.  What differs from a payload without bytecode: a module_utils file's `__file__` ends in
`.pyc`, and its code names its file `/` plus its path inside the payload (Python does not know the payload's
temporary path when this compiles it), which tracebacks show and ansible-core's guess of who deprecated what reads
(a collection's files are still recognised; an ansible-core file is not, so such a guess reads "indeterminate"
instead of "ansible.builtin"; this collection names itself in its one deprecation).  Payloads built for
ansible-core's coverage or debugger extensions, which map those file names, are kept as ansible-core built them."""
from __future__ import annotations

import base64
import dataclasses
import importlib.util
import io
import marshal
import os
import zipfile

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

try:  # ansible-core 2.19 and later; older lines keep their payloads without bytecode
    from ansible.executor.module_common import _CachedModule
except ImportError:
    _CachedModule = None

DOCUMENTATION = """
name: shared_ansiballz
type: aggregate
short_description: share AnsiballZ payloads, with bytecode, between the integration tests' playbook runs
description: Links the process's ansiballz_cache to GITOPS_TEST_ANSIBALLZ_CACHE and stores payloads with bytecode.
"""

_CHECKED_HASH_PYC = 0b11  # PEP 552 flags: hash-based, checked against the source at every import


def with_bytecode(zip_data: bytes) -> bytes:
    """The base64 AnsiballZ zip `zip_data`, with a checked hash-based `.pyc` beside each `.py` file, compiled
    as Python's zip importer compiles the source."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(zip_data))) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, body)
            if not info.filename.endswith(".py"):
                continue
            try:  # as zipimport's _compile_source does
                code = compile(body.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), "/" + info.filename, "exec",
                               dont_inherit=True)
            except (SyntaxError, ValueError):
                continue  # left to the import, which reports it as it would without bytecode
            pyc = zipfile.ZipInfo(info.filename + "c", info.date_time)
            pyc.compress_type, pyc.external_attr = info.compress_type, info.external_attr
            dst.writestr(pyc, importlib.util.MAGIC_NUMBER + _CHECKED_HASH_PYC.to_bytes(4, "little")
                         + importlib.util.source_hash(body) + marshal.dumps(code))
    return base64.b64encode(out.getvalue())


def _dump_with_bytecode(dump):
    def dump_with_bytecode(self, path: str) -> None:
        if not path.endswith("-none"):  # the cache file's name ends in the payload's extensions (module_common.py)
            return dump(self, path)
        return dump(dataclasses.replace(self, zip_data=with_bytecode(self.zip_data)), path)
    return dump_with_bytecode


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "shared_ansiballz"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shared = os.environ.get("GITOPS_TEST_ANSIBALLZ_CACHE")
        if shared:
            os.makedirs(shared, exist_ok=True)
            link = os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache")
            if not os.path.lexists(link):
                os.symlink(shared, link)
            # the workers that build payloads are forked from this process after the callbacks load
            if _CachedModule is not None and not hasattr(_CachedModule.dump, "with_bytecode"):
                _CachedModule.dump = _dump_with_bytecode(_CachedModule.dump)
                _CachedModule.dump.with_bytecode = True
