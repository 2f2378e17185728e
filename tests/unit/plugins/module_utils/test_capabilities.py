"""k8s_capabilities' shaping of /version and discovery into Helm's --kube-version and --api-versions
(plain data; the module runs against the real control plane in tests/integration/test_helm.py)."""
from __future__ import annotations

from ansible_collections.gitops.core.plugins.module_utils.cluster.capabilities import capabilities


class Served:
    """What a server answered, as plain data: /version and the discovery table."""

    def __init__(self, version, table):
        self.version, self.table, self.requests = version, table, []

    def request(self, method, path, **_kw):
        self.requests.append((method, path))
        return 200, self.version

    def discover(self):
        return self.table


def test_versions_then_kinds_sorted_and_the_core_group_without_a_prefix():
    table = {("", "ConfigMap"): {"v1": object()}, ("apps", "Deployment"): {"v1": object()},
             ("x.io", "Widget"): {"v1beta1": object(), "v1": object()}}
    served = Served({"gitVersion": "v1.37.2", "major": "1"}, table)
    assert capabilities(served, served) == {
        "kube_version": "v1.37.2",
        "api_versions": ["apps/v1", "v1", "x.io/v1", "x.io/v1beta1",
                         "apps/v1/Deployment", "v1/ConfigMap", "x.io/v1/Widget", "x.io/v1beta1/Widget"]}
    assert served.requests == [("GET", "/version")]
