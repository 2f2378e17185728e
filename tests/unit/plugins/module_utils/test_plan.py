"""Desired objects are validated before any API request, with a message naming the object."""
from __future__ import annotations

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.engine.plan import resolve_desired


@pytest.mark.parametrize("objects", [["not an object"], [{"kind": "ConfigMap", "metadata": {"name": "x"}}],
                                     [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]])
def test_malformed_objects_are_refused_before_any_request(objects):
    sources = [{"file": "apps/bad.yaml", "document": 2}]
    with pytest.raises(GitOpsError, match=r"objects\[0\] \(apps/bad.yaml, document 2\): each object needs "
                                          r"apiVersion, kind and metadata.name"):
        resolve_desired(None, objects, sources, "s", "default", None)
