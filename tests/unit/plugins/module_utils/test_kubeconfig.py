"""The client configuration from the auth options and kubeconfig files, on plain files (no cluster):
kubernetes.core's precedence, proxies, impersonation, clear errors."""
from __future__ import annotations

import base64

import pytest
import yaml
from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


def config(user, cluster=None, name="c"):
    cluster = cluster or {"server": "https://10.1.2.3:6443",
                          "certificate-authority-data": base64.b64encode(b"CA").decode()}
    return {"clusters": [{"name": name, "cluster": cluster}], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "u"}}], "current-context": name}


def write_config(path, user, cluster=None, name="c"):
    path.write_text(yaml.safe_dump(config(user, cluster, name)))
    return str(path)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)


def bearer(settings):
    return settings.configuration.auth_settings()["BearerToken"]["value"]


def test_a_kubeconfig_file_gives_server_token_and_ca(tmp_path):
    s = kubeconfig.load({"kubeconfig": write_config(tmp_path / "kc", {"token": "t0k"})})
    assert s.configuration.host == "https://10.1.2.3:6443" and bearer(s) == "Bearer t0k"
    with open(s.configuration.ssl_ca_cert, "rb") as fh:
        assert fh.read() == b"CA"
    assert s.source == "kubeconfig %s, context c" % (tmp_path / "kc")


def test_a_kubeconfig_dict_is_loaded_too(tmp_path):
    s = kubeconfig.load({"kubeconfig": config({"token": "t0k"})})
    assert bearer(s) == "Bearer t0k" and s.source.startswith("kubeconfig the kubeconfig dict")


def test_options_override_the_kubeconfig(tmp_path):
    path = write_config(tmp_path / "kc", {"token": "from-file"})
    s = kubeconfig.load({"kubeconfig": path, "host": "https://other:443", "api_key": "from-option",
                         "validate_certs": False})
    assert (s.configuration.host, bearer(s), s.configuration.verify_ssl) == ("https://other:443", "Bearer from-option",
                                                                             False)


def test_host_with_credentials_reads_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    s = kubeconfig.load({"host": "https://h:6443", "api_key": "t"})
    assert s.source == "host https://h:6443" and bearer(s) == "Bearer t"


def test_without_options_the_in_cluster_account_then_kubeconfig_are_tried(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", write_config(tmp_path / "kc", {"token": "env"}))
    assert bearer(kubeconfig.load({})) == "Bearer env"


def test_missing_context_and_missing_file_are_named(tmp_path):
    path = write_config(tmp_path / "kc", {"token": "t"})
    with pytest.raises(GitOpsError, match="cannot load the cluster credentials: .*nope"):
        kubeconfig.load({"kubeconfig": path, "context": "nope"})
    with pytest.raises(GitOpsError, match="does not exist"):
        kubeconfig.load({"kubeconfig": str(tmp_path / "missing")})


def test_proxy_option_then_proxy_url_then_environment(tmp_path, monkeypatch):
    plain = write_config(tmp_path / "a", {"token": "t"})
    via_url = write_config(tmp_path / "b", {"token": "t"}, {"server": "https://10.1.2.3:6443",
                                                            "proxy-url": "http://kubeconfig-proxy:3128"})
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com")
    opt = kubeconfig.load({"kubeconfig": via_url, "proxy": "http://option-proxy:3128", "no_proxy": "10.0.0.0/8"})
    assert (opt.configuration.proxy, opt.configuration.no_proxy) == ("http://option-proxy:3128", "10.0.0.0/8")
    url = kubeconfig.load({"kubeconfig": via_url})
    assert (url.configuration.proxy, url.configuration.no_proxy) == ("http://kubeconfig-proxy:3128", None)
    env = kubeconfig.load({"kubeconfig": plain})
    assert (env.configuration.proxy, env.configuration.no_proxy) == ("http://env-proxy:3128", "internal.example.com")


def test_proxy_headers_become_basic_auth_headers(tmp_path):
    s = kubeconfig.load({"kubeconfig": write_config(tmp_path / "kc", {"token": "t"}), "proxy": "http://p:3128",
                         "proxy_headers": {"proxy_basic_auth": "user:pw", "user_agent": None, "basic_auth": None}})
    assert s.configuration.proxy_headers == {"proxy-authorization": "Basic " + base64.b64encode(b"user:pw").decode()}


def test_impersonation_is_one_user_header_and_one_header_per_group(tmp_path):
    s = kubeconfig.load({"kubeconfig": write_config(tmp_path / "kc", {"token": "t"}), "impersonate_user": "jane",
                         "impersonate_groups": ["devs", "ops"]})
    assert s.impersonate == [("Impersonate-User", "jane"), ("Impersonate-Group", "devs"), ("Impersonate-Group", "ops")]


def test_a_server_that_is_not_a_url_is_refused(tmp_path):
    with pytest.raises(GitOpsError, match="must start with https://"):
        kubeconfig.load({"host": "10.1.2.3:6443", "api_key": "t"})
