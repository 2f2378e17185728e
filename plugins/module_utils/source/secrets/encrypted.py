# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted content in the desired state, recognised so that it is never applied as ciphertext:
a SOPS-encrypted document (a top-level `sops` mapping with its `mac` and `version`), a file
encrypted whole with Ansible Vault (`$ANSIBLE_VAULT;1.1;...`), and `!vault` values.  SOPS content
is decrypted by git_desired_state's `decryption` (sops.py) before documents reach `refuse`; what
reaches it encrypted is refused naming the file (and document)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import NOT_DECRYPTED

VAULT_HEADER = "$ANSIBLE_VAULT;"


def is_sops(data):
    meta = data.get("sops") if isinstance(data, dict) else None
    return isinstance(meta, dict) and ("mac" in meta or "version" in meta)


def is_vault(data):
    return isinstance(data, str) and data.lstrip().startswith(VAULT_HEADER)


def refuse(data, where):
    """Raise GitOpsError when a parsed document is encrypted (SOPS or a whole Ansible Vault file)."""
    if is_sops(data):
        raise GitOpsError("%s is SOPS-encrypted (its sops metadata names version %s); give `decryption` (with the "
                          "keys) to decrypt it, or it is refused rather than applied as ciphertext"
                          % (where, data["sops"].get("version", "?")))
    if is_vault(data):
        raise GitOpsError("%s is encrypted with Ansible Vault; %s" % (where, NOT_DECRYPTED))
