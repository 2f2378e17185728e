# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an API server serves: group/version/kind to Resource, from aggregated discovery
(apidiscovery v2, two requests), falling back to per-group-version discovery on servers without
it.  Read once per run, refreshed once on a miss (a CRD may be new) and after CRDs of the run are
Established."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import Resource

DISCOVERY_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
DISCOVERY_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


class Discovery(object):
    """The discovery of one client's API server, cached for the run."""

    def __init__(self, client):
        self.client = client
        self._lock = threading.Lock()  # the sets of one run share a discovery (jobs/sets.py)
        self._table = None
        self._refreshed = False  # whether discovery was refreshed since it last changed on purpose

    def discover(self, refresh=False):
        """{(group, kind): {version: Resource}} from aggregated discovery (2 requests), falling back
        to per-group-version discovery on servers without it."""
        if self._table is not None and not refresh:
            return self._table
        with self._lock:
            if self._table is not None and not refresh:  # another set's plan discovered it meanwhile
                return self._table
            return self._discover()

    def _discover(self):
        self._refreshed = self._table is not None
        table = {}
        for path in ("/api", "/apis"):
            _s, doc = self.client.request("GET", path, accept="%s,%s,application/json" % (DISCOVERY_V2, DISCOVERY_V2BETA1),
                                          verb="discovery", what="discovery %s" % path)
            if doc.get("kind") == "APIGroupDiscoveryList":
                for group in doc.get("items") or []:
                    gname = (group.get("metadata") or {}).get("name", "")
                    for ver in group.get("versions") or []:
                        for res in ver.get("resources") or []:
                            kind = (res.get("responseKind") or {}).get("kind")
                            if not kind or "/" in res.get("resource", ""):
                                continue
                            table.setdefault((gname, kind), {})[ver["version"]] = Resource(
                                gname, ver["version"], kind, res["resource"], res.get("scope") == "Namespaced",
                                tuple(res.get("verbs") or ()))
            else:
                self._legacy_discovery(path, doc, table)
        self._table = table
        return table

    def rediscover(self):
        """Refresh discovery now (after CRDs were established) and allow one more refresh on a miss."""
        self.discover(refresh=True)
        self._refreshed = False

    def _legacy_discovery(self, path, doc, table):
        group_versions = []
        if path == "/api":
            group_versions = [("", v) for v in doc.get("versions") or []]
        else:
            for group in doc.get("groups") or []:
                group_versions += [(group["name"], v["version"]) for v in group.get("versions") or []]
        for gname, version in group_versions:
            gv_path = "/api/%s" % version if not gname else "/apis/%s/%s" % (gname, version)
            _s, res_list = self.client.request("GET", gv_path, verb="discovery", what="discovery %s" % gv_path)
            for res in res_list.get("resources") or []:
                if "/" in res["name"]:
                    continue
                table.setdefault((gname, res["kind"]), {})[version] = Resource(
                    gname, version, res["kind"], res["name"], res.get("namespaced", False), tuple(res.get("verbs") or ()))

    def resource(self, group, version, kind, refresh_on_miss=True):
        """The Resource for group/version/kind, or None when the server does not serve it.  A miss
        refreshes discovery once (a CRD may be new); further misses do not, until discover(refresh=True)."""
        found = self.discover().get((group, kind), {}).get(version)
        if found is None and refresh_on_miss and not self._refreshed:
            found = self.discover(refresh=True).get((group, kind), {}).get(version)
        return found
