# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a cluster serves, in the form Helm's `--kube-version` and `--api-versions` take, so that a
chart's `.Capabilities` checks render as they would against that cluster (Argo CD passes the same)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def capabilities(client, discovery):
    """{kube_version, api_versions}: the server's gitVersion, then every served group/version and
    group/version/Kind (subresources left out), each list sorted.  Three requests: /version and
    aggregated discovery (/api, /apis, through `discovery`)."""
    _status, version = client.request("GET", "/version", verb="get", what="the server version (/version)")
    group_versions, kinds = set(), set()
    for (group, kind), versions in discovery.discover().items():
        for name in versions:
            group_version = "%s/%s" % (group, name) if group else name
            group_versions.add(group_version)
            kinds.add("%s/%s" % (group_version, kind))
    return {"kube_version": version.get("gitVersion") or "", "api_versions": sorted(group_versions) + sorted(kinds)}
