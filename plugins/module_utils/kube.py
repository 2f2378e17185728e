# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Kubernetes REST client: one keep-alive HTTPS connection per worker thread, bounded
retries with backoff on 429/5xx/connection errors, immediate and clear 401/403 errors, request
counting by verb, and cached aggregated discovery."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import socket
import ssl
import threading
import time
from collections import namedtuple

from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.gitops.core.plugins.module_utils.errors import GitOpsError

RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_ATTEMPTS = 6
TIMEOUT = 60
LIST_PAGE = 2000
DISCOVERY_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
DISCOVERY_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

# One API resource: how to address the objects of one kind.
Resource = namedtuple("Resource", "group version kind plural namespaced verbs")


class ApiError(GitOpsError):
    """A Kubernetes API error response; `status` is the HTTP code, `body` the Status object."""

    def __init__(self, status, body, what):
        reason = (body or {}).get("message") or (body or {}).get("reason") or "HTTP %d" % status
        super(ApiError, self).__init__("%s: %s" % (what, reason))
        self.status = status
        self.body = body or {}
        self.reason = reason


class _HTTPSConnection(HTTPSConnection):
    """HTTPS with an optional TLS server name other than the host (kubeconfig tls-server-name)."""

    def __init__(self, host, port, server_name, context):
        HTTPSConnection.__init__(self, host, port, timeout=TIMEOUT, context=context)
        self._server_name = server_name or host
        self._ctx = context

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._server_name)


class Client(object):
    def __init__(self, config, parallelism=8):
        self.config = config
        parts = urlsplit(config.server)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.parallelism = max(1, int(parallelism))
        self.counts = {}
        self._count_lock = threading.Lock()
        self._local = threading.local()
        self._connections = []  # every connection made, so that close() reaches all threads' ones
        self.connections_made = 0
        self._discovery = None
        self._refreshed = False  # whether discovery was refreshed since it last changed on purpose
        self.ssl_context = self._ssl_context() if self.scheme == "https" else None

    # ------------------------------------------------------------------ transport

    def _ssl_context(self):
        cfg = self.config
        try:
            ctx = ssl.create_default_context(cafile=cfg.ca_file)
            if not cfg.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if cfg.client_cert:
                ctx.load_cert_chain(cfg.client_cert, cfg.client_key)
        except (IOError, OSError, ssl.SSLError) as exc:
            raise GitOpsError("cannot load the TLS files of %s: %s" % (cfg.source or cfg.server, exc))
        return ctx

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = _HTTPSConnection(self.host, self.port, self.config.tls_server_name, self.ssl_context)
            else:
                conn = HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            self._local.conn = conn
            with self._count_lock:
                self._connections.append(conn)
                self.connections_made += 1
        return conn

    def close(self):
        """Close every connection this client made (on any thread)."""
        with self._count_lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            conn.close()

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._count_lock:
                if conn in self._connections:
                    self._connections.remove(conn)

    def _headers(self, content_type, accept):
        headers = {"Accept": accept or "application/json", "User-Agent": "gitops.core"}
        if content_type:
            headers["Content-Type"] = content_type
        token = self.config.bearer()
        if token:
            headers["Authorization"] = "Bearer " + token
        elif self.config.basic:
            raw = ("%s:%s" % self.config.basic).encode("utf-8")
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        return headers

    def count(self, verb):
        with self._count_lock:
            self.counts[verb] = self.counts.get(verb, 0) + 1

    def request(self, method, path, query=None, body=None, content_type=None, accept=None, verb=None,
                what=None, ok=(200, 201)):
        """Send one request (retrying transient failures) and return (status, decoded JSON).
        Statuses outside `ok` raise ApiError, except those the caller lists in `ok`."""
        url = self.prefix + path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode("utf-8") if isinstance(body, (dict, list)) else body
        what = what or "%s %s" % (method, path)
        delay = 0.2
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.count(verb or method.lower())
            try:
                conn = self._connection()
                conn.request(method, url, body=data, headers=self._headers(content_type, accept))
                resp = conn.getresponse()
                raw = resp.read()
                status = resp.status
                retry_after = resp.getheader("Retry-After")
            except ssl.SSLError as exc:
                self._drop_connection()
                raise GitOpsError("TLS error talking to %s: %s" % (self.config.server, exc))
            except (HTTPException, socket.error, OSError) as exc:
                self._drop_connection()
                if attempt == MAX_ATTEMPTS:
                    raise GitOpsError("cannot reach the API server %s: %s" % (self.config.server, exc))
                time.sleep(delay)
                delay = min(delay * 2, 5)
                continue
            try:
                decoded = json.loads(raw.decode("utf-8")) if raw else {}
            except ValueError:
                decoded = {"message": raw[:300].decode("utf-8", "replace")}
            if status in RETRY_STATUS and attempt < MAX_ATTEMPTS:
                wait = delay
                if retry_after and retry_after.isdigit():
                    wait = min(float(retry_after), 10)
                time.sleep(wait)
                delay = min(delay * 2, 5)
                continue
            if status == 401:
                raise ApiError(status, decoded, "the API server rejected the credentials from %s (401 Unauthorized)"
                               % (self.config.source or "the auth options"))
            if status == 403:
                raise ApiError(status, decoded, "forbidden: %s" % what)
            if status not in ok:
                raise ApiError(status, decoded, what)
            return status, decoded
        raise GitOpsError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ discovery

    def discover(self, refresh=False):
        """{(group, kind): {version: Resource}} from aggregated discovery (2 requests), falling back
        to per-group-version discovery on servers without it."""
        if self._discovery is not None and not refresh:
            return self._discovery
        self._refreshed = self._discovery is not None
        table = {}
        for path in ("/api", "/apis"):
            status, doc = self.request("GET", path, accept="%s,%s,application/json" % (DISCOVERY_V2, DISCOVERY_V2BETA1),
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
        self._discovery = table
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
            _s, res_list = self.request("GET", gv_path, verb="discovery", what="discovery %s" % gv_path)
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

    # ------------------------------------------------------------------ paths and verbs

    @staticmethod
    def path(res, namespace=None, name=None):
        base = "/api/%s" % res.version if not res.group else "/apis/%s/%s" % (res.group, res.version)
        if res.namespaced and namespace:
            base += "/namespaces/%s" % quote(namespace, safe="")
        base += "/" + res.plural
        if name:
            base += "/" + quote(name, safe="")
        return base

    def list(self, res, namespace=None, label_selector=None):
        """Every object of one resource (cluster-wide unless `namespace`), following pages."""
        items, token = [], None
        while True:
            query = {"limit": LIST_PAGE}
            if label_selector:
                query["labelSelector"] = label_selector
            if token:
                query["continue"] = token
            _s, doc = self.request("GET", self.path(res, namespace), query=query, verb="list",
                                   what="list %s" % res.plural)
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", res.version if not res.group else "%s/%s" % (res.group, res.version))
                item.setdefault("kind", res.kind)
                items.append(item)
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return items

    def get(self, res, namespace, name):
        """One object, or None when it does not exist."""
        status, doc = self.request("GET", self.path(res, namespace, name), verb="get", ok=(200, 404),
                                   what="get %s %s/%s" % (res.kind, namespace or "", name))
        return doc if status == 200 else None

    def apply(self, res, obj, field_manager, force, dry_run=False):
        meta = obj["metadata"]
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        _s, doc = self.request("PATCH", self.path(res, meta.get("namespace"), meta["name"]), query=query,
                               body=obj, content_type="application/apply-patch+yaml",
                               verb="apply-dry-run" if dry_run else "apply",
                               what="apply %s" % meta["name"])
        return doc

    def delete(self, res, namespace, name, propagation="Background", dry_run=False, preconditions=None):
        # With a DeleteOptions body the API server reads the options from the body only: a dryRun
        # query parameter beside it is ignored, and the object would really be deleted.
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if dry_run:
            body["dryRun"] = ["All"]
        if preconditions:
            body["preconditions"] = {k: v for k, v in preconditions.items() if v}
        status, _doc = self.request("DELETE", self.path(res, namespace, name), body=body,
                                    content_type="application/json",
                                    verb="delete-dry-run" if dry_run else "delete", ok=(200, 202, 404))
        return status != 404
