"""The private GnuPG home (common/gnupg.py) with the real gpg: made 0700, holding only the keys
imported, short enough for gpg-agent's socket under a long TMPDIR, removed with its agent at the end,
on failure and on SIGTERM."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common import gnupg
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

import tools

pytestmark = pytest.mark.skipif(not (shutil.which("gpg") and shutil.which("gpgconf")), reason="needs gnupg")


run = tools.run


@pytest.fixture(scope="module")
def keys():
    """(fingerprint, armored public key, armored secret key) of a key made in a GnuPG home of the test's own."""
    with tools.gpg_key() as (fingerprint, public, secret, _home):
        yield fingerprint, public, secret


def listed(home, secret=False):
    """The fingerprints of the primary keys gpg sees in `home`."""
    out = run(["gpg", "--with-colons", "--list-secret-keys" if secret else "--list-keys"], env=home.env())[1]
    lines = out.decode().splitlines()
    return [line.split(":")[9] for before, line in zip(lines, lines[1:])
            if line.startswith("fpr:") and before.startswith(("pub:", "sec:"))]


def processes_of(path):
    """The processes whose command line names `path` (gpg-agent runs with --homedir <home>)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as fh:
                if path.encode() in fh.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def test_a_home_is_private_holds_the_imported_keys_only_and_is_removed_after(keys):
    fingerprint, public, _secret = keys
    with gnupg.GnupgHome(run) as home:
        assert oct(os.stat(home.path).st_mode & 0o777) == "0o700"
        assert home.env() == {"GNUPGHOME": home.path}
        assert listed(home) == []
        home.import_key(public, "gpg_keys[0]")
        assert listed(home) == [fingerprint]
        path = home.path
    assert not os.path.exists(path)


def test_a_secret_key_imports_and_the_agent_it_started_is_stopped_with_the_home(keys):
    fingerprint, _public, secret = keys
    with gnupg.GnupgHome(run) as home:
        home.import_key(secret, "decryption.pgp_keys[0]", secret=True)
        assert listed(home, secret=True) == [fingerprint]
        path = home.path
        assert processes_of(path), "importing a secret key starts gpg-agent for the home"
    assert not os.path.exists(path)
    assert processes_of(path) == []


def test_the_home_is_short_under_a_long_tmpdir_and_gpg_agent_works_there(keys, tmp_path, monkeypatch):
    long_tmp = tmp_path / ("t" * 100)
    long_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_tmp))
    fingerprint, _public, secret = keys
    with gnupg.GnupgHome(run) as home:
        assert home.path.startswith(gnupg.SHORT_BASE + "/gitops-core-gpg-") and len(home.path) <= gnupg.MAX_HOME
        home.import_key(secret, "decryption.pgp_keys[0]", secret=True)  # the agent's socket fits in the home
        assert listed(home, secret=True) == [fingerprint]
    assert list(long_tmp.iterdir()) == []


def test_under_a_short_tmpdir_the_home_stays_there(monkeypatch):
    short_tmp = tempfile.mkdtemp(prefix="t-", dir="/tmp")
    try:
        monkeypatch.setattr(tempfile, "tempdir", short_tmp)
        with gnupg.GnupgHome(run) as home:
            assert os.path.dirname(home.path) == short_tmp
        assert os.listdir(short_tmp) == []
    finally:
        shutil.rmtree(short_tmp)


def test_a_key_gpg_cannot_import_is_refused_naming_it_and_the_home_is_removed():
    with pytest.raises(GitOpsError) as err:
        with gnupg.GnupgHome(run) as home:
            path = home.path
            home.import_key("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n",
                            "gpg_keys[1]")
    assert err.value.message.startswith("gpg_keys[1] is not an OpenPGP public key gpg can import: ")
    assert not os.path.exists(path)


def test_without_gnupg_the_key_is_named_in_the_error():
    def runner(args, **_kwargs):  # ModuleRunner's answer when the command is not on PATH
        raise GitOpsError("'%s' is not installed (not found on PATH)" % args[0])
    with pytest.raises(GitOpsError) as err:
        with gnupg.GnupgHome(runner) as home:
            home.import_key("key", "decryption.pgp_keys[0]", secret=True)
    assert err.value.message == "decryption.pgp_keys[0] needs gnupg: 'gpg' is not installed (not found on PATH)"


CHILD = """
import time
from ansible_collections.gitops.core.plugins.module_utils.common import gnupg
with gnupg.GnupgHome(None) as home:
    print(home.path, flush=True)
    time.sleep(60)
"""


def test_the_home_is_removed_on_sigterm():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env)
    path = child.stdout.readline().strip()
    assert os.path.isdir(path)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) != 0
    assert not os.path.exists(path)
