"""The shared auth argument spec matches its doc fragment and reads kubernetes.core's variables."""
from __future__ import annotations

import yaml
from ansible_collections.gitops.core.plugins.doc_fragments.k8s_auth_options import ModuleDocFragment
from ansible_collections.gitops.core.plugins.module_utils.auth_args import AUTH_ENV, auth_argument_spec


def test_spec_and_doc_fragment_declare_the_same_options_types_and_aliases():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = auth_argument_spec()
    assert set(spec) == set(documented)
    for name, option in spec.items():
        assert option["type"] == documented[name]["type"], name
        assert option.get("aliases", []) == documented[name].get("aliases", []), name


def test_each_option_is_documented_with_its_environment_variable():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    for name, env in AUTH_ENV.items():
        assert f"E({env})" in " ".join(documented[name]["description"]), name


def test_environment_variables_are_kubernetes_core_names():
    assert AUTH_ENV == {
        "kubeconfig": "K8S_AUTH_KUBECONFIG", "context": "K8S_AUTH_CONTEXT", "host": "K8S_AUTH_HOST",
        "api_key": "K8S_AUTH_API_KEY", "ca_cert": "K8S_AUTH_SSL_CA_CERT",
        "client_cert": "K8S_AUTH_CERT_FILE", "client_key": "K8S_AUTH_KEY_FILE",
        "validate_certs": "K8S_AUTH_VERIFY_SSL",
    }


def test_api_key_is_never_logged_and_every_option_falls_back_to_its_variable():
    spec = auth_argument_spec()
    assert spec["api_key"]["no_log"] is True
    for name, option in spec.items():
        _fallback, args = option["fallback"]
        assert args == [AUTH_ENV[name]]


def test_each_call_returns_an_independent_copy():
    first = auth_argument_spec()
    first["host"]["type"] = "int"
    assert auth_argument_spec()["host"]["type"] == "str"
