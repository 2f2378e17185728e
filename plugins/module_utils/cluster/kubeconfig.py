# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client configuration, made by the official `kubernetes` package from the shared auth
options (doc fragment k8s_auth_options), with kubernetes.core's precedence:

1. `host` with credentials (`api_key`, or `client_cert` and `client_key`): those alone;
2. else `kubeconfig` (a path, or the kubeconfig as a dict) or `context`: that kubeconfig
   (`KUBECONFIG`, then `~/.kube/config`, when only `context` is given);
3. else the in-cluster service account, then `KUBECONFIG` / `~/.kube/config`;
then every option that is set overrides what was loaded.

`kubernetes.config` reads the kubeconfig: certificates and keys as files or data, tokens and
token files, exec credential plugins (tokens and client certificates, refreshed when they expire),
the `oidc` auth-provider, `tls-server-name`.  This file adds only what some supported versions of
the package lack: the cluster's `proxy-url`, `HTTPS_PROXY`/`NO_PROXY` from the environment, and
`tls-server-name` on versions that ignore it.  Nothing here is ever logged."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback
from urllib.request import getproxies_environment

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes.config import incluster_config, kube_config
    from kubernetes.config.config_exception import ConfigException
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR = True, None
except ImportError:
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR = False, traceback.format_exc()

    class ConfigException(Exception):
        """Stands in for the package's exception type; load() refuses to run without the package."""

DEFAULT_KUBECONFIG = "~/.kube/config"


class Settings(object):
    """A kubernetes.client.Configuration plus what travels beside it: where the credentials
    came from (for messages, never the credentials), the impersonation headers, the TLS server
    name the package could not take."""

    def __init__(self, configuration, source, impersonate=None, tls_server_name=None):
        self.configuration = configuration
        self.source = source
        self.impersonate = impersonate or []  # [(header, value)], a header may repeat
        self.tls_server_name = tls_server_name


def _kubeconfig_paths():
    env = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return env or [os.path.expanduser(DEFAULT_KUBECONFIG)]


def _load_kubeconfig(configuration, kubeconfig, context):
    """Load a kubeconfig (dict, path, or the default paths) into `configuration`; return
    (source text, the selected cluster entry as a dict)."""
    if isinstance(kubeconfig, dict):
        source = "the kubeconfig dict"
        loader = kube_config.KubeConfigLoader(config_dict=kubeconfig, active_context=context)
    else:
        paths = [os.path.expanduser(str(kubeconfig))] if kubeconfig else _kubeconfig_paths()
        existing = [p for p in paths if os.path.exists(p)]
        if not existing:
            raise GitOpsError("kubeconfig %s does not exist" % os.pathsep.join(paths))
        source = os.pathsep.join(existing)
        merged = kube_config.KubeConfigMerger(os.pathsep.join(existing))
        if merged.config is None:
            raise GitOpsError("kubeconfig %s holds no configuration" % source)
        loader = kube_config.KubeConfigLoader(config_dict=merged.config, active_context=context, config_base_path=None)
    loader.load_and_set(configuration)
    cluster = getattr(loader, "_cluster", None)
    cluster = dict(cluster.value) if cluster is not None and hasattr(cluster, "value") else {}
    current = getattr(loader, "current_context", None) or {}
    name = current.get("name") if isinstance(current, dict) else getattr(current, "value", {}).get("name")
    return "kubeconfig %s, context %s" % (source, name or context), cluster


def _has(params, *names):
    return all(params.get(name) for name in names)


def load(params):
    """Settings from the module's auth options (which already fell back to K8S_AUTH_*)."""
    if not HAS_KUBERNETES:
        raise GitOpsError("the kubernetes Python package is required (pip install kubernetes)")
    configuration = k8s_client.Configuration()
    cluster = {}
    try:
        if params.get("host") and (_has(params, "api_key") or _has(params, "client_cert", "client_key")):
            source = "host %s" % params["host"]
        elif params.get("kubeconfig") or params.get("context"):
            source, cluster = _load_kubeconfig(configuration, params.get("kubeconfig"), params.get("context"))
        else:
            try:
                incluster_config.load_incluster_config(client_configuration=configuration)
                source = "in-cluster service account"
            except ConfigException:
                source, cluster = _load_kubeconfig(configuration, None, None)
    except ConfigException as exc:
        raise GitOpsError("cannot load the cluster credentials: %s" % exc)
    except (IOError, OSError) as exc:
        raise GitOpsError("cannot read the cluster credentials: %s" % exc)

    if params.get("host"):
        configuration.host = params["host"].rstrip("/")
        source = "host %s" % configuration.host if source.startswith("host") else "%s, host %s" % (source, configuration.host)
    if params.get("api_key"):
        configuration.api_key = {"authorization": "Bearer %s" % params["api_key"]}
        configuration.refresh_api_key_hook = None  # the token given replaces an exec plugin's or a file's
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file")):
        if params.get(option):
            setattr(configuration, attribute, params[option])
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = params["validate_certs"]
    if not configuration.host or not configuration.host.startswith(("https://", "http://")):
        raise GitOpsError("the API server address '%s' must start with https://" % configuration.host)

    _set_proxy(configuration, params, cluster)
    if params.get("proxy_headers"):
        headers = {k: v for k, v in params["proxy_headers"].items() if v}
        configuration.proxy_headers = urllib3.util.make_headers(**headers)

    tls_server_name = cluster.get("tls-server-name")
    if tls_server_name and hasattr(configuration, "tls_server_name"):
        configuration.tls_server_name, tls_server_name = tls_server_name, None

    impersonate = []
    if params.get("impersonate_user"):
        impersonate.append(("Impersonate-User", params["impersonate_user"]))
    for group in params.get("impersonate_groups") or []:
        impersonate.append(("Impersonate-Group", group))
    return Settings(configuration, source, impersonate, tls_server_name)


def _set_proxy(configuration, params, cluster):
    """The proxy as client-go picks it: the `proxy` option, else the kubeconfig cluster's
    `proxy-url`, else HTTPS_PROXY (HTTP_PROXY for http://) from the environment; `no_proxy`, else
    NO_PROXY, lists the hosts that bypass it."""
    env = getproxies_environment()
    scheme = configuration.host.split(":", 1)[0]
    proxy = params.get("proxy") or cluster.get("proxy-url") or env.get(scheme)
    configuration.proxy = proxy or None
    no_proxy = params.get("no_proxy")
    if no_proxy is None and not params.get("proxy") and not cluster.get("proxy-url"):
        no_proxy = env.get("no")
    configuration.no_proxy = no_proxy or None


SECRET_KUBECONFIG_KEYS = ("client-key-data", "client-certificate-data", "token", "password", "id-token",
                          "refresh-token", "client-secret", "access-token")


def hide_kubeconfig(module):
    """A kubeconfig given as a dict is never echoed: its key material joins the values Ansible
    masks in every output, and the whole dict is replaced in the invocation shown at -vvv."""
    value = module.params.get("kubeconfig")
    if isinstance(value, dict):
        secrets = set()

        def walk(node, key=None):
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, k)
            elif isinstance(node, list):
                for v in node:
                    walk(v, key)
            elif isinstance(node, str) and key in SECRET_KUBECONFIG_KEYS and node:
                secrets.add(node)
        walk(value)
        module.no_log_values.update(secrets)
        module.params["kubeconfig"] = "(a kubeconfig given as a dict; not shown)"


def require(module):
    """fail_json, as Ansible modules say it, when the kubernetes package is missing."""
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
