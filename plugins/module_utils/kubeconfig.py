# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster credentials from the shared auth options (doc fragment k8s_auth_options), a kubeconfig
(path, dict, KUBECONFIG, ~/.kube/config) or the in-cluster service account.

Supported kubeconfig features: server, certificate-authority(-data), insecure-skip-tls-verify,
tls-server-name; client-certificate(-data)/client-key(-data), token, tokenFile, username/password,
exec credential plugins.  Key material given as data is written to a private temporary folder
that is removed when the process exits.  Nothing here is ever logged."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import json
import os
import shutil
import tempfile
import time

from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_FILE_TTL = 60  # seconds a token read from tokenFile is reused (rotated tokens are re-read)
_TMP = []


def _private_file(data, name):
    if not _TMP:
        _TMP.append(tempfile.mkdtemp(prefix="gitops-core-auth-"))
        atexit.register(shutil.rmtree, _TMP[0], True)
    path = os.path.join(_TMP[0], name)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(data)
    return path


class ClusterConfig(object):
    """Everything needed to reach and authenticate to one API server."""

    def __init__(self, server):
        self.server = server.rstrip("/")
        self.ca_file = None
        self.verify = True
        self.tls_server_name = None
        self.client_cert = None
        self.client_key = None
        self.token = None
        self.token_file = None
        self.basic = None
        self.exec_spec = None
        self.source = None  # where the credentials came from, for messages
        self.runner = None  # runs exec credential plugins
        self._file_token = (None, 0.0)  # (token, monotonic time read)

    def bearer(self):
        """The bearer token to send now (tokenFile re-read once a minute; exec plugins run once a run)."""
        if self.token_file:
            token, read_at = self._file_token
            if token is None or time.monotonic() - read_at > TOKEN_FILE_TTL:
                try:
                    with open(self.token_file) as fh:
                        token = fh.read().strip()
                except (IOError, OSError) as exc:
                    raise GitOpsError("cannot read the token file %s: %s" % (self.token_file, exc.strerror))
                self._file_token = (token, time.monotonic())
            return token
        if self.exec_spec and not self.token and not self.client_cert:
            self._run_exec()
        return self.token

    def _run_exec(self):
        spec = self.exec_spec
        command = spec.get("command")
        if not command:
            raise GitOpsError("kubeconfig user exec has no command")
        env = {}
        for item in spec.get("env") or []:
            env[item["name"]] = item["value"]
        api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1")
        env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential",
                                                  "spec": {"interactive": False}})
        try:
            code, out, _err = self.runner([command] + list(spec.get("args") or []), env=env, timeout=120)
        except GitOpsError as exc:
            raise GitOpsError("kubeconfig exec plugin: %s %s" % (exc.message, spec.get("installHint") or ""))
        if code != 0:
            raise GitOpsError("kubeconfig exec plugin '%s' failed (exit %d)" % (command, code))
        try:
            status = json.loads(out.decode("utf-8"))["status"]
        except (ValueError, KeyError, TypeError):
            raise GitOpsError("kubeconfig exec plugin '%s' did not print an ExecCredential" % command)
        if status.get("token"):
            self.token = status["token"]
        if status.get("clientCertificateData"):
            self.client_cert = _private_file(status["clientCertificateData"].encode(), "exec.crt")
            self.client_key = _private_file(status["clientKeyData"].encode(), "exec.key")


def _read_yaml(path):
    import yaml  # only needed for kubeconfig files; the module checks PyYAML is present

    try:
        with open(path) as fh:
            return yaml.safe_load(fh) or {}
    except (IOError, OSError) as exc:
        raise GitOpsError("cannot read kubeconfig %s: %s" % (path, exc.strerror))
    except yaml.YAMLError as exc:
        raise GitOpsError("kubeconfig %s is not valid YAML: %s" % (path, exc))


def _merged_kubeconfig(paths):
    """Merge kubeconfig files as kubectl does: the first file to define a name wins."""
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    for path in paths:
        data = _read_yaml(path)
        base = os.path.dirname(os.path.abspath(path))
        for section in ("clusters", "users", "contexts"):
            known = {item.get("name") for item in merged[section]}
            for item in data.get(section) or []:
                if item.get("name") not in known:
                    item = dict(item)
                    item["_base"] = base
                    merged[section].append(item)
        merged["current-context"] = merged["current-context"] or data.get("current-context")
    return merged


def _entry(kubeconfig, section, name, what):
    for item in kubeconfig.get(section) or []:
        if item.get("name") == name:
            return item
    raise GitOpsError("kubeconfig has no %s named '%s'" % (what, name))


def _path(value, base):
    value = os.path.expanduser(value)
    return value if os.path.isabs(value) else os.path.join(base or ".", value)


def _from_kubeconfig(kubeconfig, context_name, source):
    context_name = context_name or kubeconfig.get("current-context")
    if not context_name:
        raise GitOpsError("kubeconfig %s has no current-context; set context" % source)
    context = _entry(kubeconfig, "contexts", context_name, "context").get("context") or {}
    cluster_entry = _entry(kubeconfig, "clusters", context.get("cluster"), "cluster")
    cluster = cluster_entry.get("cluster") or {}
    base = cluster_entry.get("_base")
    if not cluster.get("server"):
        raise GitOpsError("kubeconfig cluster '%s' has no server" % context.get("cluster"))
    cfg = ClusterConfig(cluster["server"])
    cfg.source = "kubeconfig %s, context %s" % (source, context_name)
    if cluster.get("certificate-authority-data"):
        cfg.ca_file = _private_file(base64.b64decode(cluster["certificate-authority-data"]), "ca.crt")
    elif cluster.get("certificate-authority"):
        cfg.ca_file = _path(cluster["certificate-authority"], base)
    cfg.verify = not cluster.get("insecure-skip-tls-verify", False)
    cfg.tls_server_name = cluster.get("tls-server-name")
    if context.get("user"):
        user_entry = _entry(kubeconfig, "users", context["user"], "user")
        user = user_entry.get("user") or {}
        base = user_entry.get("_base")
        if user.get("client-certificate-data"):
            cfg.client_cert = _private_file(base64.b64decode(user["client-certificate-data"]), "client.crt")
        elif user.get("client-certificate"):
            cfg.client_cert = _path(user["client-certificate"], base)
        if user.get("client-key-data"):
            cfg.client_key = _private_file(base64.b64decode(user["client-key-data"]), "client.key")
        elif user.get("client-key"):
            cfg.client_key = _path(user["client-key"], base)
        cfg.token = user.get("token")
        if user.get("tokenFile"):
            cfg.token_file = _path(user["tokenFile"], base)
        if user.get("username"):
            cfg.basic = (user["username"], user.get("password") or "")
        if user.get("exec"):
            cfg.exec_spec = user["exec"]
        if user.get("auth-provider"):
            raise GitOpsError("kubeconfig user '%s' uses an auth-provider, which Kubernetes removed; "
                              "use an exec plugin" % context["user"])
    return cfg


def _in_cluster():
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not os.path.exists(os.path.join(IN_CLUSTER_DIR, "token")):
        return None
    if ":" in host:
        host = "[%s]" % host
    cfg = ClusterConfig("https://%s:%s" % (host, port))
    cfg.ca_file = os.path.join(IN_CLUSTER_DIR, "ca.crt")
    cfg.token_file = os.path.join(IN_CLUSTER_DIR, "token")
    cfg.source = "in-cluster service account"
    return cfg


def load(params, runner):
    """A ClusterConfig from the module's auth options (which already fell back to K8S_AUTH_*)."""
    kubeconfig = params.get("kubeconfig")
    cfg = None
    if isinstance(kubeconfig, dict):
        cfg = _from_kubeconfig(kubeconfig, params.get("context"), "(given as a dict)")
    elif kubeconfig:
        path = os.path.expanduser(str(kubeconfig))
        if not os.path.exists(path):
            raise GitOpsError("kubeconfig %s does not exist" % path)
        cfg = _from_kubeconfig(_merged_kubeconfig([path]), params.get("context"), path)
    elif not params.get("host"):
        env_paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p and os.path.exists(p)]
        default = os.path.expanduser("~/.kube/config")
        paths = env_paths or ([default] if os.path.exists(default) else [])
        if paths:
            cfg = _from_kubeconfig(_merged_kubeconfig(paths), params.get("context"), os.pathsep.join(paths))
        else:
            cfg = _in_cluster()
    if params.get("host"):
        explicit = ClusterConfig(params["host"])
        if cfg:  # keep the kubeconfig's credentials unless the options replace them
            explicit.__dict__.update({k: v for k, v in cfg.__dict__.items() if k != "server"})
        cfg = explicit
        cfg.source = "host %s" % params["host"]
    if cfg is None:
        raise GitOpsError("no cluster credentials: set kubeconfig or host (or K8S_AUTH_KUBECONFIG / "
                          "K8S_AUTH_HOST), or run inside a cluster")
    if params.get("api_key"):
        cfg.token, cfg.token_file, cfg.exec_spec = params["api_key"], None, None
    if params.get("ca_cert"):
        cfg.ca_file = params["ca_cert"]
    if params.get("client_cert"):
        cfg.client_cert = params["client_cert"]
    if params.get("client_key"):
        cfg.client_key = params["client_key"]
    if params.get("validate_certs") is not None:
        cfg.verify = params["validate_certs"]
    if not cfg.server.startswith(("https://", "http://")):
        raise GitOpsError("the API server address '%s' must start with https://" % cfg.server)
    cfg.runner = runner
    return cfg
