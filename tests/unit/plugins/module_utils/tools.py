"""Real tools for the unit tests that need them (gpg, sops): a runner with ModuleRunner's contract,
and a throw-away OpenPGP key in a GnuPG home of the test's own."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


def run(args, cwd=None, env=None, data=None, timeout=None, binaries=None):
    """runner.ModuleRunner's contract with subprocess: `env` is added to this process's environment;
    `binaries` maps a command to the file that runs it (a tool built outside PATH)."""
    executable = (binaries or {}).get(args[0]) or shutil.which(args[0])
    if not executable:
        raise GitOpsError("'%s' is not installed (not found on PATH)" % args[0])
    merged = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}  # None: unset
    proc = subprocess.run([executable] + list(args[1:]), cwd=cwd, env=merged, input=data,
                          capture_output=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@contextlib.contextmanager
def gpg_key():
    """(fingerprint, armored public key, armored secret key, GnuPG home holding it) of a key made for the
    test; the home and its agent are gone afterwards."""
    home = tempfile.mkdtemp(prefix="gpg-", dir="/tmp")
    env = {"GNUPGHOME": home}
    try:
        run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Ops <ops@example.com>", "default", "default",
             "never"], env=env)
        out = run(["gpg", "--with-colons", "--fingerprint", "ops@example.com"], env=env)[1].decode()
        fingerprint = next((line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")), None)
        assert fingerprint, out
        public = run(["gpg", "--armor", "--export", fingerprint], env=env)[1].decode()
        secret = run(["gpg", "--batch", "--armor", "--export-secret-keys", fingerprint], env=env)[1].decode()
        yield fingerprint, public, secret, home
    finally:
        run(["gpgconf", "--homedir", home, "--kill", "all"], env=env)
        shutil.rmtree(home, ignore_errors=True)
