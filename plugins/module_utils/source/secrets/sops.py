# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decryption of SOPS-encrypted content with the `sops` binary (the reference implementation), for
one run: the keys of the `decryption` option in a private folder (0700) and a private GnuPG home
(common/gnupg.py), and when it names keys sops uses those only, never the machine's own; every plain
text kept in memory or in that folder, the folder removed at the end (on failure and on SIGTERM
too).  sops verifies each file's MAC (never `--ignore-mac`); its own error text is not passed on (a
MAC mismatch prints digests of the plain values), only what failed and why."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common import gnupg, paths, sanitize, yamlsafe
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.secrets.vault import Vault

SOPS_TIMEOUT = 120
# sops' exit codes (github.com/getsops/sops/v3/cmd/sops/codes) that have a message of ours.
_MAC_MISMATCH, _MAC_NOT_FOUND, _NO_KEY = 51, 52, 128
# The markers of a SOPS-encrypted file in each of sops' formats: an encrypted value, and its metadata.
ENCRYPTED_VALUE = "ENC[AES256_GCM,"
_METADATA = ("sops:", '"sops":', "sops_mac=", "[sops]")
_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}
# sops' other age key sources (github.com/getsops/sops/v3/age/keysource.go): removed from its environment when
# `decryption` names keys (a stand-in value would not do: sops 3.10 fails on an SSH key file it cannot parse).
_AGE_SOURCES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD")


def looks_encrypted(text):
    """Whether file text is SOPS-encrypted in any of sops' formats (yaml, json, dotenv, ini, binary)."""
    return ENCRYPTED_VALUE in text and any(marker in text for marker in _METADATA)


def recipients(meta):
    """The keys a document's sops metadata says it is encrypted for, as text for an error."""
    if not isinstance(meta, dict):
        return "unknown keys"
    groups = [meta] + [g for g in meta.get("key_groups") or [] if isinstance(g, dict)]
    found = []
    for group in groups:
        found += ["age %s" % k.get("recipient") for k in group.get("age") or [] if isinstance(k, dict)]
        found += ["PGP %s" % k.get("fp") for k in group.get("pgp") or [] if isinstance(k, dict)]
        for field in ("kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"):
            found += ["%s key" % field for k in group.get(field) or []]
    return ", ".join(found) or "no key"


def encrypted_leaves(cipher, plain):
    """(path, plain value as text) of each leaf that is an encrypted value (ENC[...]) in `cipher`,
    read at the same path of the decrypted document; the `sops` metadata is skipped."""
    for path, value in paths.leaves(cipher):
        if value.startswith(ENCRYPTED_VALUE) and path[:1] != ("sops",):
            text = paths.lookup(plain, path)
            if text is not None:
                yield path, text if isinstance(text, str) else str(text)


def only_these_keys(folder, age_file, gnupghome):
    """sops' environment when `decryption` names keys: the age keys of `age_file` (None: no age key)
    and the GnuPG home `gnupghome`, and no key of the machine.  sops would also read SOPS_AGE_KEY,
    ~/.config/sops/age/keys.txt ($XDG_CONFIG_HOME), ~/.ssh/id_ed25519 and id_rsa, a key command, and
    ~/.gnupg (from the passwd entry when GNUPGHOME is unset); so HOME and XDG_CONFIG_HOME point into
    the private folder, GNUPGHOME is always set, and each inherited key variable is removed (a None
    value: the runner unsets it)."""
    env = dict.fromkeys(_AGE_SOURCES)  # None: the runner removes the variable
    env.update(HOME=folder, XDG_CONFIG_HOME=os.path.join(folder, "config"), GNUPGHOME=gnupghome,
               SOPS_AGE_KEY_FILE=age_file)
    return env


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _content_or_file(value, field, index):
    if "\n" not in value.strip() and os.path.isfile(os.path.expanduser(value)):
        with open(os.path.expanduser(value)) as fh:
            return fh.read()
    if not value.strip():
        raise GitOpsError("decryption.%s[%d] is empty" % (field, index))
    return value


class Decryption(object):
    """The keys of one run (the `decryption` option) and its private folder.  Use as a context
    manager; it records the plain values each decryption revealed, for the masking."""

    def __init__(self, runner, options):
        self.runner = runner
        self.options = dict(options or {})
        self.enabled = options is not None
        self.folder = None
        self._calls = []  # the plain values of each decryption, in order
        self.vault = Vault(self.options.get("vault_secrets") if self.enabled else None)
        self._env = {}
        self._old_term = None
        self._gnupg = None

    # ------------------------------------------------------------------ lifetime
    def __enter__(self):
        if not self.enabled:
            return self
        self.folder = tempfile.mkdtemp(prefix="gitops-core-decrypt-")
        os.chmod(self.folder, 0o700)
        try:
            self._old_term = signal.signal(signal.SIGTERM, self._on_term)
        except ValueError:
            self._old_term = None  # not the main thread: nothing to install
        try:
            self._keys()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _on_term(self, signum, frame):
        raise SystemExit("terminated (SIGTERM)")  # unwinds through __exit__, which removes the folder

    def __exit__(self, *exc):
        if not self.folder:
            return
        if self._gnupg is not None:
            self._gnupg.__exit__(*exc)
            self._gnupg = None
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)

    def _keys(self):
        """Check and place the named keys; with any named, sops is given only them (only_these_keys)."""
        age = [_content_or_file(k, "age_keys", i) for i, k in enumerate(self.options.get("age_keys") or [])]
        if self.options.get("age_key_file"):
            path = os.path.expanduser(self.options["age_key_file"])
            if not os.path.isfile(path):
                raise GitOpsError("decryption.age_key_file '%s' does not exist" % self.options["age_key_file"])
            with open(path) as fh:
                age.append(fh.read())
        pgp = [_content_or_file(k, "pgp_keys", i) for i, k in enumerate(self.options.get("pgp_keys") or [])]
        if not (age or pgp):
            return  # no key named: sops finds the machine's keys as it always does (cloud KMS, say)
        for index, text in enumerate(age):
            if "AGE-SECRET-KEY-" not in text:
                raise GitOpsError("decryption age key %d holds no AGE-SECRET-KEY- line" % index)
        age_file = None
        if age:
            age_file = os.path.join(self.folder, "age-keys.txt")
            with os.fdopen(os.open(age_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
                fh.write("\n".join(text.strip() for text in age) + "\n")
        self._gnupg = gnupg.GnupgHome(self.runner).__enter__()  # empty without pgp_keys: ~/.gnupg is not read
        for index, armored in enumerate(pgp):
            self._gnupg.import_key(armored, "decryption.pgp_keys[%d]" % index, secret=True)
        self._env = only_these_keys(self.folder, age_file, self._gnupg.path)

    # ------------------------------------------------------------------ decrypting
    def refuse_unless_enabled(self, name):
        if not self.enabled:
            raise GitOpsError("%s is SOPS-encrypted; give `decryption` (with the keys) to decrypt it, or it is "
                              "refused rather than applied as ciphertext" % name)

    def record(self, values):
        """Record plain values decrypted elsewhere (Ansible Vault) for the masking."""
        self._calls.append({str(v) for v in values})

    def write_private(self, text, suffix):
        """A new file in the private folder holding `text` (plain text a renderer reads); its path."""
        handle, out = tempfile.mkstemp(dir=self.folder, suffix=suffix)
        with os.fdopen(handle, "w") as fh:
            fh.write(text)
        return out

    def decrypt_to_file(self, name, path, fmt=None):
        """(plain text, path of a new file holding it in the private folder) of one encrypted file,
        for a renderer that reads files (helm's --values)."""
        self.refuse_unless_enabled(name)
        handle, out = tempfile.mkstemp(dir=self.folder, suffix=os.path.splitext(path)[1])
        os.close(handle)
        return self.decrypt(name, path=path, fmt=fmt, output=out), out

    def decrypt(self, name, path=None, text=None, fmt=None, output=None):
        """The plain text of one SOPS-encrypted file, from `path` or from `text` (ciphertext, given
        on stdin).  With `output`, sops writes the plain text there (in the private folder) and the
        text is read back for the masking.  `name` says what it is in an error."""
        self.refuse_unless_enabled(name)
        fmt = fmt or _FORMATS.get(os.path.splitext(path or "")[1].lower(), "binary")
        args = ["sops", "decrypt", "--input-type", fmt, "--output-type", fmt]
        if output:
            args += ["--output", output]
        args.append(path or "/dev/stdin")
        try:
            code, out, err = self.runner(args, env=dict(self._env), timeout=SOPS_TIMEOUT,
                                         data=text.encode("utf-8") if text is not None else None)
        except GitOpsError as exc:
            raise GitOpsError("%s is SOPS-encrypted and decrypting it needs sops: %s" % (name, exc.message))
        if code != 0:
            raise GitOpsError("%s: %s" % (name, self._failure(code, err, path, text, fmt)))
        if output:
            with open(output, encoding="utf-8", errors="replace") as fh:
                out = fh.read()
        else:
            out = out.decode("utf-8", "replace")
        self._reveal(text if text is not None else _read(path), out, fmt)
        return out

    def _failure(self, code, err, path, text, fmt):
        if code in (_MAC_MISMATCH, _MAC_NOT_FOUND):
            return ("the SOPS MAC does not match its content: the file was changed after it was encrypted "
                    "(tampered with, or edited without sops); refused")
        if code == _NO_KEY:
            return "no key of `decryption` fits; it is encrypted for %s" % recipients(self._metadata(path, text, fmt))
        # sops' other errors describe the file's structure, never plain values; digests are cut anyway
        message = err.decode("utf-8", "replace").strip().splitlines()
        return "sops failed (exit %d): %s" % (code, sanitize.without_digests(message[0] if message else ""))

    @staticmethod
    def _metadata(path, text, fmt):
        if text is None:
            text = _read(path)
        if fmt in ("yaml", "json", "binary"):
            try:
                for _index, _line, data in yamlsafe.load_all(text, "sops file"):
                    if isinstance(data, dict) and isinstance(data.get("sops"), dict):
                        return data["sops"]
            except GitOpsError:
                return None
        meta = {}
        for line in text.splitlines():  # dotenv and ini keep the metadata flattened: sops_age__list_0__map_recipient
            key, _sep, value = line.partition("=")
            key = key.strip()
            if "recipient" in key and "age" in key:
                meta.setdefault("age", []).append({"recipient": value.strip()})
            elif key.endswith("__map_fp") and "pgp" in key:
                meta.setdefault("pgp", []).append({"fp": value.strip()})
        return meta

    def _reveal(self, cipher, plain, fmt):
        """Record the plain values whose ciphertext was an encrypted value (ENC[...]): what the file
        left in clear (an encrypted_regex left out, an _unencrypted suffix) is not secret."""
        found = set()
        if fmt == "binary":
            found |= {line.strip() for line in plain.splitlines() if line.strip()} | {plain}
        elif fmt in ("dotenv", "ini"):
            secret = {line.partition("=")[0].strip() for line in cipher.splitlines()
                      if ENCRYPTED_VALUE in line.partition("=")[2]}
            for line in plain.splitlines():
                key, sep, value = line.partition("=")
                if sep and key.strip() in secret and value.strip():
                    found.add(value.strip())
        else:
            try:
                ciphers = [data for _i, _l, data in yamlsafe.load_all(cipher, "sops file")]
                plains = [data for _i, _l, data in yamlsafe.load_all(plain, "decrypted file")]
            except GitOpsError:
                ciphers, plains = [], []
                found.add(plain)
            for enc, dec in zip(ciphers, plains):
                found |= {value for _path, value in encrypted_leaves(enc, dec)}
        self._calls.append(found)

    def checkpoint(self):
        """A mark for masked_values(since=...): the values of the decryptions after it only."""
        return len(self._calls)

    def masked_values(self, since=0):
        """Every form (as written, base64) of the values decrypted since the checkpoint `since`."""
        return sanitize.forms_of(set().union(*self._calls[since:]))
