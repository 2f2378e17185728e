"""A runner with ModuleRunner's signature for code that calls module_utils outside a module
(tests, benchmarks): the same command, environment update, stdin and timeout, via subprocess."""
from __future__ import annotations

import os
import subprocess

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


def local_runner(args, cwd=None, env=None, data=None, timeout=None):
    try:
        proc = subprocess.run(list(args), cwd=cwd, env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}, input=data,
                              capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise GitOpsError("'%s' is not installed (not found on PATH)" % args[0]) from None
    except subprocess.TimeoutExpired:
        raise GitOpsError("%s took longer than %ds" % (args[0], timeout)) from None
    return proc.returncode, proc.stdout, proc.stderr
