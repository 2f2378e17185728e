# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""git_desired_state with the play's own Ansible Vault secrets: when the task gives `decryption`,
the vault secrets ansible-playbook was started with (--vault-id, --vault-password-file, an AWX
Vault credential) are handed to the module as the no_log option `decryption.vault_secrets`, so a
repository's Vault-encrypted files and `!vault` values decrypt without a password in the task."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.common.validation import check_type_dict
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        decryption = args.get("decryption")
        if decryption is not None:
            if not isinstance(decryption, dict):
                try:
                    decryption = check_type_dict(decryption)
                except TypeError:
                    decryption = None  # the module reports the option's type
            if isinstance(decryption, dict):
                secrets = getattr(getattr(self._loader, "_vault", None), "secrets", None) or []
                decryption = dict(decryption, vault_secrets=[
                    {"id": to_text(vault_id), "secret": to_text(secret.bytes, errors="surrogate_or_strict")}
                    for vault_id, secret in secrets if getattr(secret, "bytes", None)])
                args["decryption"] = decryption
        result.update(self._execute_module(module_name="gitops.core.git_desired_state", module_args=args,
                                           task_vars=task_vars))
        return result
