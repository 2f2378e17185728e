# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec matching doc fragment gitops.core.k8s_auth_options (one place for both):
kubernetes.core's auth options with the same names, aliases and no_log flags.  Each option falls
back, as in kubernetes.core, to `K8S_AUTH_` + its name or any alias, upper-cased."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import env_fallback

PROXY_HEADERS_OPTIONS = {
    "proxy_basic_auth": {"type": "str", "no_log": True},
    "basic_auth": {"type": "str", "no_log": True},
    "user_agent": {"type": "str"},
}

_AUTH_OPTIONS = {
    "kubeconfig": {"type": "raw"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": PROXY_HEADERS_OPTIONS},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}


def env_names(name):
    """The K8S_AUTH_* variables an option reads, its own name first, then its aliases'."""
    return ["K8S_AUTH_%s" % n.upper() for n in [name] + _AUTH_OPTIONS[name].get("aliases", [])]


AUTH_ENV = {name: env_names(name) for name in _AUTH_OPTIONS if name != "proxy_headers"}


def auth_argument_spec():
    """A fresh copy of the shared auth options, each with its K8S_AUTH_* fallbacks."""
    spec = {}
    for name, option in _AUTH_OPTIONS.items():
        option = copy.deepcopy(option)
        if name in AUTH_ENV:
            option["fallback"] = (env_fallback, AUTH_ENV[name])
        spec[name] = option
    return spec
