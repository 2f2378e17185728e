# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster authentication options shared by every gitops.core module that talks to Kubernetes:
kubernetes.core's names, aliases and environment variables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary. A dictionary is never
        echoed in results or at C(-vvv), and its key material and tokens are masked in every output.
      - When neither this, O(context) nor O(host) with credentials is set, the in-cluster service
        account is used, else E(KUBECONFIG), else C(~/.kube/config) (as kubernetes.core does).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's current context.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example V(https://127.0.0.1:6443).
      - With O(api_key), or O(client_cert) and O(client_key), no kubeconfig is read; otherwise it
        overrides the server of the kubeconfig context.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - A bearer token to authenticate with, for example a service account token.
      - Never shown in results, messages or logs.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  ca_cert:
    description:
      - Path to a CA certificate used to verify the API server.
      - Can also be set with the E(K8S_AUTH_CA_CERT) or E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ ssl_ca_cert ]
  client_cert:
    description:
      - Path to a client certificate to authenticate with.
      - Can also be set with the E(K8S_AUTH_CLIENT_CERT) or E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [ cert_file ]
  client_key:
    description:
      - Path to the private key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_CLIENT_KEY) or E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [ key_file ]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can also be set with the E(K8S_AUTH_VALIDATE_CERTS) or E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [ verify_ssl ]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through, for example V(http://proxy.example.com:3128).
      - Without it, the kubeconfig cluster's C(proxy-url), then E(HTTPS_PROXY) (E(HTTP_PROXY) for an
        C(http://) server), are used.
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains or CIDRs that are reached directly, not through the proxy.
      - Without it, E(NO_PROXY) applies to a proxy taken from the environment.
      - Can also be set with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
  proxy_headers:
    description: Headers sent to the proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description: C(user:password) for the proxy's Basic authentication. Never logged.
        type: str
      basic_auth:
        description: C(user:password) sent as an C(Authorization) Basic header. Never logged.
        type: str
      user_agent:
        description: The C(User-Agent) header.
        type: str
  impersonate_user:
    description:
      - Act as this user (the C(Impersonate-User) header); the credentials need the C(impersonate) permission.
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_USER) environment variable.
    type: str
  impersonate_groups:
    description:
      - Act with these groups (one C(Impersonate-Group) header each).
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_GROUPS) environment variable (comma-separated).
    type: list
    elements: str
requirements:
  - kubernetes >= 24.2.0 (the official Kubernetes Python client)
notes:
  - The option names, aliases and E(K8S_AUTH_*) environment variables are those of C(kubernetes.core),
    which AWX's and Automation Controller's OpenShift or Kubernetes API Bearer Token credential injects.
  - Kubeconfig features come from the C(kubernetes) package - certificates and keys as files or data,
    tokens and token files, exec credential plugins (tokens or client certificates, refreshed when they
    expire), the C(oidc) auth-provider, C(tls-server-name) and C(proxy-url).
  - Set the options once for every gitops.core module that talks to Kubernetes with
    C(module_defaults) and the action group C(group/gitops.core.gitops).
"""

    # The read-only cluster modules (k8s_capabilities, set_info): their attributes and retries.
    READ_ONLY = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  api_retries:
    description: How often a request is sent again after a 429, a 5xx or a connection error.
    type: int
    default: 5
"""
