# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible Vault content of the desired state, decrypted with the play's own vault secrets: whole
files (`$ANSIBLE_VAULT;1.1;AES256`, `1.2` with a vault id) and `!vault` values.  The secrets reach
the module from its action plugin (plugins/action/git_desired_state.py) as the no_log option
`decryption.vault_secrets`: the user writes no password into the task."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii

from ansible_collections.gitops.core.plugins.module_utils.common import paths, yamlsafe
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

_IDENTITY = ("apiVersion", "kind", "metadata")


def _parse(vaulttext):
    """(vault id or None, salt, hmac, ciphertext) of a vault envelope (format 1.1 or 1.2, AES256)."""
    lines = vaulttext.strip().splitlines()
    header = lines[0].strip().split(";") if lines else []
    if len(header) < 3 or header[0] != "$ANSIBLE_VAULT" or header[1] not in ("1.1", "1.2") or header[2] != "AES256":
        raise ValueError("not an Ansible Vault 1.1/1.2 AES256 envelope")
    body = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
    salt, mac, cipher = body.split(b"\n", 2)
    return (header[3] if len(header) > 3 else None), binascii.unhexlify(salt), binascii.unhexlify(mac), \
        binascii.unhexlify(cipher.strip())


def _open(password, salt, mac, cipher):
    """The plain bytes, or None when `password` is not the one (the HMAC does not match).  The
    scheme of Ansible Vault's AES256 cipher: PBKDF2-HMAC-SHA256 (10,000 rounds) gives an AES key, an
    HMAC key and a CTR nonce; the HMAC-SHA256 of the ciphertext is checked before AES-256-CTR."""
    from cryptography.hazmat.primitives import hashes, hmac, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    material = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=10000).derive(password)
    check = hmac.HMAC(material[32:64], hashes.SHA256())
    check.update(cipher)
    try:
        check.verify(mac)
    except Exception:  # cryptography.exceptions.InvalidSignature
        return None
    decryptor = Cipher(algorithms.AES(material[:32]), modes.CTR(material[64:80])).decryptor()
    padded = decryptor.update(cipher) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


class Vault(object):
    """The play's vault secrets for one run; `decrypt` returns plain text or raises naming `where`.
    The module cannot import ansible-core's controller code (AnsiballZ carries module_utils only),
    so the AES256 vault format is read here with the `cryptography` package ansible-core requires."""

    def __init__(self, secrets):
        self.secrets = [(s.get("id") or "default", (s.get("secret") or "").encode("utf-8")) for s in secrets or []]

    def __bool__(self):
        return bool(self.secrets)

    __nonzero__ = __bool__

    def decrypt(self, vaulttext, where):
        if not self.secrets:
            raise GitOpsError("%s is encrypted with Ansible Vault and the play has no vault secret (give "
                              "--vault-id or --vault-password-file, or an AWX Vault credential)" % where)
        try:
            named, salt, mac, cipher = _parse(vaulttext)
        except (ValueError, TypeError, binascii.Error):
            raise GitOpsError("%s: not a valid Ansible Vault envelope (1.1 or 1.2, AES256)" % where)
        try:
            import cryptography  # noqa: F401  pylint: disable=unused-import
        except ImportError:
            raise GitOpsError("%s: decrypting Ansible Vault content needs the cryptography Python package" % where)
        # the secret whose id the envelope names first, then the others, as ansible-playbook tries them
        ordered = sorted(self.secrets, key=lambda item: item[0] != named)
        for _vault_id, password in ordered:
            try:
                plain = _open(password, salt, mac, cipher)
            except ValueError:
                plain = None  # bad padding: not this secret
            if plain is not None:
                return plain.decode("utf-8")
        raise GitOpsError("%s: no vault secret of the play opens it%s" % (where, " (vault id '%s')" % named if named else ""))


def decrypt_values(data, vault, where, path=()):
    """`data` with each `!vault` value (yamlsafe.VaultValue) replaced by its plain text; returns
    (data, [index path of each])."""
    found = []
    if isinstance(data, yamlsafe.VaultValue):
        return vault.decrypt(data.text, "%s, the !vault value at line %d" % (where, data.line)), [path]
    if isinstance(data, dict):
        for key in list(data):
            data[key], more = decrypt_values(data[key], vault, where, path + (key,))
            found += more
    elif isinstance(data, list):
        for index, item in enumerate(data):
            data[index], more = decrypt_values(item, vault, where, path + (index,))
            found += more
    return data, found


def leaf_paths(data):
    """Every leaf's index path except the identity (apiVersion, kind, metadata): the fields of a
    document that was encrypted whole."""
    return [path for path, _value in paths.leaves(data, types=None) if path and path[0] not in _IDENTITY]
