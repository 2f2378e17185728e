# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's thin layer over the official `kubernetes` package.  `kubernetes.config`
makes the client configuration (kubeconfig.py) and `kubernetes.client.ApiClient`'s urllib3 pool
(TLS, client certificates, proxy, sized to `parallelism`) carries every request.  Added here only
what the package lacks: the server-side-apply content type, request counting by verb, impersonation with several groups, and the retry policy:
bounded retries with backoff on 429/5xx/connection errors honouring Retry-After, and immediate,
clear 401/403 errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import threading
import time
from collections import namedtuple

from urllib.parse import quote, urlencode

from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

try:
    import urllib3
    from kubernetes import client as k8s_client
    from urllib3._collections import HTTPHeaderDict  # also in urllib3 1.26, which old kubernetes versions use
except ImportError:  # kubeconfig.load() says what to install before a Client is made
    pass

RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_ATTEMPTS = 6  # the default: one request and 5 retries (option api_retries)
MAX_RETRY_AFTER = 10
TIMEOUT = 60
LIST_PAGE = 2000

# One API resource: how to address the objects of one kind.
Resource = namedtuple("Resource", "group version kind plural namespaced verbs")
# Core kinds every cluster serves at v1, used without discovery (inventories, their namespace, the pods of a workload).
CONFIG_MAPS = Resource("", "v1", "ConfigMap", "configmaps", True, ())
NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False, ())
LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases", True, ())
PODS = Resource("", "v1", "Pod", "pods", True, ())


class ApiError(GitOpsError):
    """A Kubernetes API error response; `status` is the HTTP code, `body` the Status object."""

    def __init__(self, status, body, what, note=None):
        reason = (body or {}).get("message") or (body or {}).get("reason") or "HTTP %d" % status
        if note:
            reason = "%s (%s)" % (reason, note)
        super(ApiError, self).__init__("%s: %s" % (what, reason))
        self.status = status
        self.body = body or {}
        self.reason = reason


class Unreachable(GitOpsError):
    """The API server could not be reached within the retry budget: every later request of this
    run fails at once with the same error (no per-object retries while the server is down)."""


class Client(object):
    """Requests to one API server through one kubernetes.client.ApiClient (one connection pool)."""

    def __init__(self, settings, parallelism=8, retries=MAX_ATTEMPTS - 1):
        self.settings = settings
        self.attempts = max(0, int(retries)) + 1
        configuration = settings.configuration
        self.server = configuration.host.rstrip("/")
        self.parallelism = max(1, int(parallelism))
        # the engine's workers plus the calling thread each keep one connection alive
        configuration.connection_pool_maxsize = self.parallelism + 1
        self.api_client = k8s_client.ApiClient(configuration)
        self.pool = self.api_client.rest_client.pool_manager
        if settings.tls_server_name:  # a package version that does not know tls-server-name
            self.pool.connection_pool_kw["server_hostname"] = settings.tls_server_name
        self.counts = {}
        self._count_lock = threading.Lock()
        self._unreachable = None

    # ------------------------------------------------------------------ transport

    @property
    def connections_made(self):
        """How many connections the pool has opened so far."""
        pools = self.pool.pools
        return sum(pools[key].num_connections for key in list(pools.keys()))

    def close(self):
        """Close every connection of the pool."""
        self.pool.clear()

    def _headers(self, content_type, accept):
        headers = HTTPHeaderDict({"Accept": accept or "application/json", "User-Agent": "gitops.core"})
        if content_type:
            headers["Content-Type"] = content_type
        # the package's own auth: bearer tokens, token files and exec plugins, refreshed when they expire
        auth = self.settings.configuration.auth_settings().get("BearerToken") or {}
        if auth.get("value"):
            headers["Authorization"] = auth["value"]
        for name, value in self.settings.impersonate:
            headers.add(name, value)
        return headers

    def count(self, verb):
        with self._count_lock:
            self.counts[verb] = self.counts.get(verb, 0) + 1

    def request(self, method, path, query=None, body=None, content_type=None, accept=None, verb=None,
                what=None, ok=(200, 201)):
        """Send one request (retrying transient failures) and return (status, decoded JSON).
        Statuses outside `ok` raise ApiError, except those the caller lists in `ok`."""
        url = self.server + path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode("utf-8") if isinstance(body, (dict, list)) else body
        what = what or "%s %s" % (method, path)
        if self._unreachable is not None:
            raise self._unreachable
        delay = 0.2
        started = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            self.count(verb or method.lower())
            try:
                resp = self.pool.request(method, url, body=data, headers=self._headers(content_type, accept),
                                         timeout=urllib3.Timeout(connect=10, read=TIMEOUT), retries=False,
                                         redirect=False, preload_content=True)
            except urllib3.exceptions.SSLError as exc:
                raise GitOpsError("TLS error talking to %s: %s" % (self.server, exc))
            except urllib3.exceptions.ProxyError as exc:
                raise GitOpsError("the proxy %s refused or failed the connection to %s: %s"
                                  % (self.settings.configuration.proxy, self.server, exc))
            except urllib3.exceptions.HTTPError as exc:
                if attempt == self.attempts:
                    self._unreachable = Unreachable("cannot reach the API server %s after %d attempts over %ds: %s"
                                                    % (self.server, attempt, time.monotonic() - started, exc))
                    raise self._unreachable
                self.count("retries")
                time.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 5)
                continue
            raw, status = resp.data, resp.status
            try:
                decoded = json.loads(raw.decode("utf-8")) if raw else {}
            except ValueError:
                decoded = {"message": raw[:300].decode("utf-8", "replace")}
            if status in RETRY_STATUS and attempt < self.attempts:
                retry_after = resp.headers.get("Retry-After")
                wait = min(float(retry_after), MAX_RETRY_AFTER) if retry_after and retry_after.isdigit() else 0
                # jitter: workers told "Retry-After: 1" together must not all come back together
                self.count("retries")
                time.sleep(wait + random.uniform(0, delay))
                delay = min(delay * 2, 5)
                continue
            if status in RETRY_STATUS:
                raise ApiError(status, decoded, what, note="HTTP %d after %d attempts over %ds: %s; see api_retries"
                               % (status, attempt, time.monotonic() - started,
                                  "the API server's priority and fairness limits" if status == 429
                                  else "the API server kept failing"))
            if status == 401:
                raise ApiError(status, decoded, "the API server rejected the credentials from %s (401 Unauthorized)"
                               % self.settings.source)
            if status == 403:
                raise ApiError(status, decoded, "forbidden: %s%s" % (what, self._impersonation_hint(decoded)))
            if status not in ok:
                raise ApiError(status, decoded, what)
            return status, decoded
        raise GitOpsError("unreachable")  # pragma: no cover

    def _impersonation_hint(self, body):
        if "impersonate" in ((body or {}).get("message") or "") and self.settings.impersonate:
            return " (the impersonate_user/impersonate_groups options ask for an identity these credentials may not take)"
        return ""

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

    def _pages(self, res, namespace, label_selector):
        """Each page (the decoded list) of one resource's list, following `continue` tokens; its items
        carry apiVersion and kind."""
        token = None
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
            yield doc
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return

    def list(self, res, namespace=None, label_selector=None, keep=None):
        """Every object of one resource (cluster-wide unless `namespace`), following pages; with
        `keep`, only the objects it accepts (the others are dropped page by page)."""
        return [item for doc in self._pages(res, namespace, label_selector) for item in doc.get("items") or []
                if keep is None or keep(item)]

    def list_for_watch(self, res, namespace=None, label_selector=None):
        """(items, resourceVersion) of one resource: the list a watch starts from."""
        items, version = [], None
        for page, version in self.pages_for_watch(res, namespace, label_selector):
            items.extend(page)
        return items, version

    def pages_for_watch(self, res, namespace=None, label_selector=None):
        """Yield (items, resourceVersion) page by page of the list a watch starts from, so that a
        caller never holds every object of a large collection at once; the resourceVersion is the
        first page's (every page of one list is read at that snapshot), the one to watch from."""
        version = None
        for doc in self._pages(res, namespace, label_selector):
            version = version or (doc.get("metadata") or {}).get("resourceVersion")
            yield doc.get("items") or [], version

    def watch_collection(self, res, namespace, label_selector, resource_version, seconds, stopping=None):
        """Yield (type, object) of one resource's watch from `resource_version`, renewing the watch
        from the last resourceVersion seen (bookmarks included) until `stopping` is set.  A
        resourceVersion too old raises ApiError 410 (the caller relists); a lost connection raises."""
        api_version = res.version if not res.group else "%s/%s" % (res.group, res.version)
        while stopping is None or not stopping.is_set():
            query = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                     "timeoutSeconds": str(int(seconds))}
            if label_selector:
                query["labelSelector"] = label_selector
            resp = self._watch_response(res, namespace, query, seconds + 20, "watch %s" % res.plural)
            try:
                for kind, obj in self._watch_events(resp):
                    if kind == "ERROR":
                        raise ApiError(obj.get("code") or 500, obj, "watch %s" % res.plural)
                    resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                    if kind != "BOOKMARK":
                        obj.setdefault("apiVersion", api_version)
                        obj.setdefault("kind", res.kind)
                        yield kind, obj
                    if stopping is not None and stopping.is_set():
                        return
            finally:
                resp.release_conn()

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

    def _watch_response(self, res, namespace, query, seconds, what):
        """The open response of one watch request (status 200), or ApiError/GitOpsError."""
        url = self.server + self.path(res, namespace) + "?" + urlencode(query)
        self.count("watch")
        try:
            resp = self.pool.request("GET", url, headers=self._headers(None, None), retries=False, redirect=False,
                                     timeout=urllib3.Timeout(connect=10, read=seconds + 10), preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise GitOpsError("%s: %s" % (what, exc))
        if resp.status != 200:
            try:
                raise ApiError(resp.status, json.loads(resp.read().decode("utf-8") or "{}"), what)
            finally:
                resp.release_conn()
        return resp

    @staticmethod
    def _watch_events(resp):
        """Yield each event (type, object) of a watch response as its line arrives."""
        buffered = b""
        for chunk in resp.stream(65536):
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                if line.strip():
                    event = json.loads(line.decode("utf-8"))
                    yield event.get("type"), event.get("object") or {}

    def watch(self, res, namespace, name, resource_version, seconds, until=None):
        """The events (type, object) of one object after `resource_version`, for at most `seconds`
        (the server ends the watch then), or until `until(type, object)` says so.  A resourceVersion
        too old answers one ERROR event (410)."""
        query = {"watch": "1", "fieldSelector": "metadata.name=%s" % name, "resourceVersion": resource_version,
                 "timeoutSeconds": str(int(seconds)), "allowWatchBookmarks": "false"}
        resp = self._watch_response(res, namespace, query, seconds, "watch %s %s/%s" % (res.kind, namespace or "", name))
        try:
            events = []
            for event in self._watch_events(resp):
                events.append(event)
                if until is not None and until(*event):
                    resp.close()  # the rest of this watch is not wanted: drop its connection
                    break
            return events
        finally:
            resp.release_conn()

    def json_patch(self, res, namespace, name, patch):
        """A JSON patch (RFC 6902) of one object; returns the object as patched."""
        _s, doc = self.request("PATCH", self.path(res, namespace, name), body=patch,
                               content_type="application/json-patch+json", verb="patch",
                               what="patch %s %s/%s" % (res.kind, namespace or "", name))
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


def connect(params, parallelism=1):
    """A Client from a module's auth options and `api_retries` (checked here, for every module)."""
    if params["api_retries"] < 0:
        raise GitOpsError("api_retries must not be negative")
    return Client(kubeconfig.load(params), parallelism, params["api_retries"])
