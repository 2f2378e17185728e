# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running external commands (git, gpg, kustomize, helm) through
AnsibleModule.run_command, with a hard timeout (coreutils `timeout`) and an environment of our
choosing.  Tests and benchmarks pass any callable with the same signature."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

TIMED_OUT = 124  # coreutils timeout's exit code


class ModuleRunner(object):
    """runner(args, cwd=None, env=None, data=None, timeout=None) -> (rc, stdout bytes, stderr bytes).
    `env` is added to the environment; a variable given as None is removed from it."""

    def __init__(self, module, drop_env_prefixes=("GIT_", "HELM_")):
        self.module = module
        # Inherited GIT_DIR, GIT_CONFIG_PARAMETERS, GIT_SSH... would steer git (HELM_* helm); this
        # process is ours alone, so remove them here and hand each tool exactly the variables we set.
        for key in list(os.environ):
            if key.startswith(tuple(drop_env_prefixes)):
                del os.environ[key]

    def __call__(self, args, cwd=None, env=None, data=None, timeout=None):
        executable = self.module.get_bin_path(args[0])
        if not executable:
            raise GitOpsError("'%s' is not installed (not found on PATH)" % args[0])
        env = dict(env or {})
        for key in [k for k, v in env.items() if v is None]:
            del env[key]
            os.environ.pop(key, None)  # this process is ours alone (see __init__): gone for every later tool too
        cmd = [executable] + list(args[1:])
        if timeout:
            cmd = ["timeout", "--kill-after=10", str(int(timeout))] + cmd
        rc, out, err = self.module.run_command(cmd, cwd=cwd, environ_update=env, data=data,
                                               binary_data=True, encoding=None, expand_user_and_vars=False)
        if timeout and rc in (TIMED_OUT, 137):
            raise GitOpsError("%s took longer than %ds" % (args[0], timeout))
        return rc, out, err
