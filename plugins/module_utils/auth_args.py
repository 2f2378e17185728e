# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec matching doc fragment gitops.core.k8s_auth_options (one place for both)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import env_fallback

# option name -> (argument spec, environment variable).  The variables are kubernetes.core's.
_AUTH_OPTIONS = {
    "kubeconfig": ({"type": "raw"}, "K8S_AUTH_KUBECONFIG"),
    "context": ({"type": "str"}, "K8S_AUTH_CONTEXT"),
    "host": ({"type": "str"}, "K8S_AUTH_HOST"),
    "api_key": ({"type": "str", "no_log": True}, "K8S_AUTH_API_KEY"),
    "ca_cert": ({"type": "path", "aliases": ["ssl_ca_cert"]}, "K8S_AUTH_SSL_CA_CERT"),
    "client_cert": ({"type": "path", "aliases": ["cert_file"]}, "K8S_AUTH_CERT_FILE"),
    "client_key": ({"type": "path", "aliases": ["key_file"], "no_log": False}, "K8S_AUTH_KEY_FILE"),
    "validate_certs": ({"type": "bool", "aliases": ["verify_ssl"]}, "K8S_AUTH_VERIFY_SSL"),
}

AUTH_ENV = {name: env for name, (_spec, env) in _AUTH_OPTIONS.items()}


def auth_argument_spec():
    """A fresh copy of the shared auth options, each with its K8S_AUTH_* fallback."""
    spec = {}
    for name, (option, env) in _AUTH_OPTIONS.items():
        option = copy.deepcopy(option)
        option["fallback"] = (env_fallback, [env])
        spec[name] = option
    return spec
