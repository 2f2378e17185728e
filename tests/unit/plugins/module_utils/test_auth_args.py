"""The shared auth argument spec matches its doc fragment and reads kubernetes.core's variables."""
from __future__ import annotations

import yaml
from ansible_collections.gitops.core.plugins.doc_fragments.k8s_auth_options import ModuleDocFragment
from ansible_collections.gitops.core.plugins.module_utils.cluster.auth_args import AUTH_ENV, auth_argument_spec


def test_spec_and_doc_fragment_declare_the_same_options_types_and_aliases():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = auth_argument_spec()
    assert set(spec) == set(documented)
    for name, option in spec.items():
        assert option["type"] == documented[name]["type"], name
        assert option.get("aliases", []) == documented[name].get("aliases", []), name
    assert set(spec["proxy_headers"]["options"]) == set(documented["proxy_headers"]["suboptions"])


def test_each_option_is_documented_with_each_of_its_environment_variables():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    for name, names in AUTH_ENV.items():
        for env in names:
            assert f"E({env})" in " ".join(documented[name]["description"]), (name, env)


def test_environment_variables_are_kubernetes_core_names_and_aliases():
    assert AUTH_ENV["validate_certs"] == ["K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"]
    assert AUTH_ENV["ca_cert"] == ["K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"]
    assert AUTH_ENV["client_cert"] == ["K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"]
    assert AUTH_ENV["client_key"] == ["K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"]
    assert AUTH_ENV["impersonate_groups"] == ["K8S_AUTH_IMPERSONATE_GROUPS"]
    assert set(AUTH_ENV) == {"kubeconfig", "context", "host", "api_key", "ca_cert", "client_cert", "client_key",
                             "validate_certs", "proxy", "no_proxy", "impersonate_user", "impersonate_groups"}


def test_secrets_are_never_logged_and_every_option_falls_back_to_its_variables():
    spec = auth_argument_spec()
    assert spec["api_key"]["no_log"] is True
    assert spec["proxy_headers"]["options"]["proxy_basic_auth"]["no_log"] is True
    assert spec["proxy_headers"]["options"]["basic_auth"]["no_log"] is True
    for name, option in spec.items():
        if name in AUTH_ENV:
            _fallback, args = option["fallback"]
            assert args == AUTH_ENV[name]


def test_each_call_returns_an_independent_copy():
    first = auth_argument_spec()
    first["host"]["type"] = "int"
    assert auth_argument_spec()["host"]["type"] == "str"
