"""Credentials from kubeconfig files and options, on plain files (no cluster)."""
from __future__ import annotations

import base64

import pytest
import yaml
from ansible_collections.gitops.core.plugins.module_utils import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError


def write_config(path, user, cluster=None, name="c"):
    cluster = cluster or {"server": "https://10.1.2.3:6443",
                          "certificate-authority-data": base64.b64encode(b"CA").decode()}
    cfg = {"clusters": [{"name": name, "cluster": cluster}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": name, "context": {"cluster": name, "user": "u"}}], "current-context": name}
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_token_file_is_read_relative_to_the_kubeconfig_and_reused(tmp_path):
    (tmp_path / "token").write_text("first\n")
    cfg = kubeconfig.load({"kubeconfig": write_config(tmp_path / "kc", {"tokenFile": "token"})}, None)
    assert cfg.bearer() == "first"
    (tmp_path / "token").write_text("rotated\n")
    assert cfg.bearer() == "first"  # within the minute
    cfg._file_token = ("first", cfg._file_token[1] - kubeconfig.TOKEN_FILE_TTL - 1)
    assert cfg.bearer() == "rotated"


def test_options_override_the_kubeconfig(tmp_path):
    path = write_config(tmp_path / "kc", {"token": "from-file"})
    cfg = kubeconfig.load({"kubeconfig": path, "host": "https://other:443", "api_key": "from-option",
                           "validate_certs": False}, None)
    assert (cfg.server, cfg.bearer(), cfg.verify) == ("https://other:443", "from-option", False)


def test_ca_data_goes_to_a_private_file(tmp_path):
    cfg = kubeconfig.load({"kubeconfig": write_config(tmp_path / "kc", {"token": "t"})}, None)
    with open(cfg.ca_file, "rb") as fh:
        assert fh.read() == b"CA"


def test_missing_context_and_missing_file_are_named(tmp_path):
    path = write_config(tmp_path / "kc", {"token": "t"})
    with pytest.raises(GitOpsError, match="kubeconfig has no context named 'nope'"):
        kubeconfig.load({"kubeconfig": path, "context": "nope"}, None)
    with pytest.raises(GitOpsError, match="does not exist"):
        kubeconfig.load({"kubeconfig": str(tmp_path / "missing")}, None)


def test_removed_auth_providers_are_refused_clearly(tmp_path):
    path = write_config(tmp_path / "kc", {"auth-provider": {"name": "gcp"}})
    with pytest.raises(GitOpsError, match="auth-provider, which Kubernetes removed; use an exec plugin"):
        kubeconfig.load({"kubeconfig": path}, None)
