"""Reading git's verification output: only a good signature by a trusted key passes."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common import gnupg
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.signatures import Keyring, _reason, parse_verification

GPG_GOOD = """[GNUPG:] NEWSIG alice@example.com
[GNUPG:] GOODSIG 50B19B8BEEF882FB Alice <alice@example.com>
[GNUPG:] VALIDSIG 094B80A960E998B71AE633DB50B19B8BEEF882FB 2026-11-26 1795682668 0 4 0 22 8 00 094B80A960E998B71AE633DB50B19B8BEEF882FB
[GNUPG:] TRUST_UNDEFINED 0 pgp
"""


def test_good_gpg_signature_gives_signer_and_primary_fingerprint():
    assert parse_verification(GPG_GOOD) == {
        "format": "gpg", "signer": "Alice <alice@example.com>", "key": "094B80A960E998B71AE633DB50B19B8BEEF882FB"}


def test_gpg_signature_by_an_unknown_key_is_not_good():
    out = "[GNUPG:] ERRSIG 50B19B8BEEF882FB 22 8 00 1795682668 9 -\n[GNUPG:] NO_PUBKEY 50B19B8BEEF882FB\n"
    assert parse_verification(out) is None
    assert _reason(out) == "signed with GPG key 50B19B8BEEF882FB, which is not among gpg_keys"


def test_bad_or_expired_gpg_signatures_are_not_good():
    for word in ("BADSIG", "EXPKEYSIG", "REVKEYSIG"):
        out = GPG_GOOD.replace("GOODSIG", word)
        assert parse_verification(out) is None
        assert "GPG" in _reason(out)


def test_good_ssh_signature_gives_principal_and_key():
    out = 'Good "git" signature for bob@example.com with ED25519 key SHA256:TriqMStykUnPLXDuyMUsbMPCvUT9cntihwX7C7NniVc\n'
    assert parse_verification(out) == {"format": "ssh", "signer": "bob@example.com",
                                       "key": "SHA256:TriqMStykUnPLXDuyMUsbMPCvUT9cntihwX7C7NniVc"}


def test_ssh_signature_without_a_matching_principal_is_not_good():
    out = 'Good "git" signature with ED25519 key SHA256:wN5bfYrFwB0Vox\nNo principal matched.\n'
    assert parse_verification(out) is None
    assert _reason(out) == "signed with SSH key SHA256:wN5bfYrFwB0Vox, which is not in allowed_signers"


def test_no_output_means_unsigned():
    assert parse_verification("") is None
    assert _reason("") == "it is not signed"


def run(args, cwd=None, env=None, data=None, timeout=None):
    proc = subprocess.run(args, cwd=cwd, env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None},
                          input=data, capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.skipif(not shutil.which("gpg"), reason="needs gnupg")
def test_the_keyring_is_a_private_gnupg_home_and_a_bad_key_leaves_nothing_behind(tmp_path, monkeypatch):
    """Before: a gpg key gpg could not import left the keyring's folder (and its GnuPG home) behind."""
    short = tempfile.mkdtemp(prefix="t-", dir="/tmp")  # where the home goes when TMPDIR (tmp_path) is long
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        monkeypatch.setattr(gnupg, "SHORT_BASE", short)
        with Keyring(run, allowed_signers="bob@example.com ssh-ed25519 AAAAC3Nza") as keyring:
            home = keyring.env()["GNUPGHOME"]
            assert os.path.isdir(home) and oct(os.stat(home).st_mode & 0o777) == "0o700"
            assert "gpg.ssh.allowedSignersFile=%s" % keyring.signers_file in keyring.git_config()
        assert not os.path.exists(home) and list(tmp_path.iterdir()) == []
        with pytest.raises(GitOpsError, match=r"^gpg_keys\[0\] is not an OpenPGP public key gpg can import: "):
            with Keyring(run, gpg_keys=["-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n"]):
                pass
        assert list(tmp_path.iterdir()) == [] and os.listdir(short) == []
    finally:
        shutil.rmtree(short)
