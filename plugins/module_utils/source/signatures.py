# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signature policy for commits and tags: GPG keys in a private keyring made for this run only,
SSH keys through an OpenSSH allowed_signers file; both kinds may be trusted at once.

A signature passes only when git accepts it (exit 0) and its output names a good signature by
a trusted key: GOODSIG + VALIDSIG for GPG (the private keyring holds nothing but the given
keys), `Good "git" signature for <principal>` for SSH (the principal matched allowed_signers)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common import gnupg
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

VERIFY_MODES = ("none", "head", "tag", "all")
_SSH_GOOD = re.compile(r'^Good "git" signature for (?P<signer>.+?) with (?P<type>\S+) key (?P<key>\S+)\s*$', re.M)


def content_or_file(value, what):
    """A key given inline or as a path; the path must exist when the value is not key text."""
    if not isinstance(value, str) or not value.strip():
        raise GitOpsError("%s entries must be non-empty strings" % what)
    if "\n" in value.strip() or value.lstrip().startswith("-----BEGIN"):
        return value
    path = os.path.expanduser(value)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    if what == "allowed_signers" and " " in value.strip():
        return value  # a single allowed_signers line
    raise GitOpsError("%s: '%s' is neither key text nor an existing file" % (what, value))


class Keyring(object):
    """The trusted keys of one run: GPG keys in a private GnuPG home (gnupg.GnupgHome: the only keys
    git's gpg sees, even when gpg_keys is empty) and an allowed_signers file in a temporary folder;
    both removed on exit, on failure and on SIGTERM."""

    def __init__(self, runner, gpg_keys=None, allowed_signers=None):
        self.runner = runner
        self.gpg_keys = list(gpg_keys or [])
        self.allowed_signers = allowed_signers
        self.tmp = None
        self.home = gnupg.GnupgHome(runner)

    def __enter__(self):
        self.home.__enter__()
        try:
            self.tmp = tempfile.mkdtemp(prefix="gitops-core-keys-")
            self.signers_file = os.path.join(self.tmp, "allowed_signers")
            with open(self.signers_file, "w") as fh:
                if self.allowed_signers:
                    fh.write(content_or_file(self.allowed_signers, "allowed_signers").rstrip("\n") + "\n")
            for index, key in enumerate(self.gpg_keys):
                self.home.import_key(content_or_file(key, "gpg_keys"), "gpg_keys[%d]" % index)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        self.home.__exit__(*exc)

    def env(self):
        return self.home.env()

    def git_config(self):
        return ["gpg.ssh.allowedSignersFile=%s" % self.signers_file, "gpg.program=gpg",
                "gpg.minTrustLevel=undefined"]


def parse_verification(output):
    """{format, signer, key} from the --raw output of git verify-commit/verify-tag, or None when
    it shows no good signature by a trusted key."""
    if "[GNUPG:]" in output:
        status = {}
        for line in output.splitlines():
            if line.startswith("[GNUPG:] "):
                word, _sp, rest = line[9:].partition(" ")
                status.setdefault(word, rest)
        bad = [w for w in ("BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY") if w in status]
        if bad or "GOODSIG" not in status or "VALIDSIG" not in status:
            return None
        signer = status["GOODSIG"].partition(" ")[2]
        fields = status["VALIDSIG"].split()
        return {"format": "gpg", "signer": signer, "key": fields[-1] if len(fields) >= 10 else fields[0]}
    match = _SSH_GOOD.search(output)
    if match:
        return {"format": "ssh", "signer": match.group("signer"), "key": match.group("key")}
    return None


def _reason(output):
    if "[GNUPG:]" in output:
        if "NO_PUBKEY" in output or "ERRSIG" in output:
            keyid = re.search(r"(?:NO_PUBKEY|ERRSIG) (\S+)", output)
            return "signed with GPG key %s, which is not among gpg_keys" % (keyid.group(1) if keyid else "?")
        for word, text in (("BADSIG", "the GPG signature is bad (content changed after signing?)"),
                           ("EXPKEYSIG", "the signing GPG key has expired"),
                           ("REVKEYSIG", "the signing GPG key is revoked"),
                           ("EXPSIG", "the GPG signature has expired")):
            if word in output:
                return text
        return "the GPG signature could not be verified"
    if "No principal matched" in output or "no principal" in output:
        key = re.search(r"key (SHA256:\S+)", output)
        return "signed with SSH key %s, which is not in allowed_signers" % (key.group(1) if key else "?")
    if "SSH" in output or "ssh-keygen" in output or "allowedSignersFile" in output:
        return "the SSH signature could not be verified: %s" % output.strip()[-300:]
    return "it is not signed"


def verify(git, kind, rev, label):
    """Verify the signature on a commit or an annotated tag; return {verified, format, signer,
    key} or raise GitOpsError naming `label` and the reason."""
    code, out, err = git.call(["verify-%s" % kind, "--raw", rev])
    output = err + out
    result = parse_verification(output) if code == 0 else None
    if result is None:
        raise GitOpsError("%s: %s" % (label, _reason(output)))
    result["verified"] = True
    return result


UNVERIFIED = {"verified": False, "format": None, "signer": None, "key": None}
