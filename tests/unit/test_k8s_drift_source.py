"""The event source's arguments: the modules' cluster options, each falling back to K8S_AUTH_* as in the
modules (a rulebook's `{{ var | default('') }}` counts as not given)."""
from __future__ import annotations

import runpy
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "extensions" / "eda" / "plugins" / "event_source" / "k8s_drift.py"


def test_cluster_options_fall_back_to_k8s_auth_variables(monkeypatch):
    source = runpy.run_path(str(SOURCE))
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", "/from/env")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")
    params = source["auth_params"]({"kubeconfig": "", "context": "prod", "impersonate_groups": "a, b"})
    assert params["kubeconfig"] == "/from/env" and params["context"] == "prod"
    assert params["validate_certs"] is False and params["impersonate_groups"] == ["a", "b"]
    assert source["auth_params"]({"kubeconfig": "/given"})["kubeconfig"] == "/given"
    assert "gitops-core" in source["DOCUMENTATION"] and source["main"].__doc__
