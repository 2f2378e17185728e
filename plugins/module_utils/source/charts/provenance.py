# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm provenance (`helm package --sign`, `helm verify`): a `.prov` file is an OpenPGP clearsigned
message whose signed text holds the chart's Chart.yaml and, after a `...` line, `files:` - the
archive's name and its sha256.  It is checked with gpg in a private home (common/gnupg.py) holding
only the keys the play gives for it: the signature must be good and made by one of them, and the
signed sha256 must be the archive's.  Only the signed text is read (gpg's output), never what
surrounds the signature."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.common import gnupg
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_one

_BAD = ("BADSIG", "ERRSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY")


def _status(err):
    return [line[len("[GNUPG:] "):].split() for line in err.decode("utf-8", "replace").splitlines()
            if line.startswith("[GNUPG:] ")]


def signed_files(text, what):
    """{archive name: sha256 digest} of the signed text of a provenance file."""
    _chart, _sep, rest = text.replace("\r\n", "\n").partition("\n...\n")
    data, _lines = load_one(rest, "%s: provenance" % what) if rest.strip() else (None, {})
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise GitOpsError("%s: the provenance file signs no files: section" % what)
    return dict((str(k), str(v)) for k, v in files.items())


def verify(runner, prov, digest, filename, keys, what):
    """The signer's key fingerprint when `prov` is a good signature by one of `keys` (armored public
    keys) over `filename` with sha256 `digest`; raise naming the chart otherwise."""
    if not keys:
        raise GitOpsError("%s: verify=provenance needs keys (the chart's trust names a key set of the play's "
                          "trusted_keys with gpg_keys)" % what)
    with gnupg.GnupgHome(runner) as home:
        for index, key in enumerate(keys):
            home.import_key(key, "%s: trusted key %d" % (what, index))
        try:
            code, out, err = runner(["gpg", "--batch", "--no-tty", "--status-fd", "2", "--output", "-", "--decrypt"],
                                    env=home.env(), data=prov, timeout=60)
        except GitOpsError as exc:
            raise GitOpsError("%s: provenance needs gnupg: %s" % (what, exc.message))
    status = _status(err)
    words = [s[0] for s in status if s]
    bad = [w for w in words if w in _BAD]
    valid = [s for s in status if s and s[0] == "VALIDSIG" and len(s) > 1]
    if code != 0 or bad or not valid or "GOODSIG" not in words:
        if "NO_PUBKEY" in bad:
            reason = "signed by a key the chart's trust does not hold"
        else:
            reason = bad[0] if bad else ("no signature" if "NODATA" in words or not words else "exit %d" % code)
        raise GitOpsError("%s: the provenance file's signature is not good (%s); refused" % (what, reason))
    files = signed_files(out.decode("utf-8", "replace"), what)
    signed = files.get(filename)
    if signed is None:
        raise GitOpsError("%s: the provenance file signs %s, not %s; refused"
                          % (what, ", ".join(sorted(files)) or "nothing", filename))
    if signed != digest:
        raise GitOpsError("%s: the provenance file signs %s as %s, but the archive is %s; refused"
                          % (what, filename, signed, digest))
    return valid[0][1]
