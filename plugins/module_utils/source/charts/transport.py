# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTPS requests for charts, with the care credentials need:

- https only, unless the chart entry opts in to plain HTTP (plain_http);
- the play's credentials (basic auth or a bearer token) go to the repository's own host only: a
  redirect to another host is followed without them, and a redirect from https to http is refused;
- a URL carrying credentials (https://user:pass@host) is refused: credentials come from the play;
- every answer is read up to a size limit, and refused over it;
- a failure names the URL, never a credential.

Nothing here keeps state between runs; `requests` counts the requests made (the result says how
many a chart needed: none when it came from the cache)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import socket
import ssl

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urljoin, urlsplit
from ansible.module_utils.six.moves.urllib.request import HTTPRedirectHandler, HTTPSHandler, Request, build_opener

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

TIMEOUT = 60
MAX_REDIRECTS = 5


class Response(object):
    def __init__(self, status, headers, body, url):
        self.status, self.headers, self.body, self.url = status, headers, body, url


class _NoRedirect(HTTPRedirectHandler):
    """Redirects are followed by Transport.get itself, which decides what goes to the new host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def origin(url):
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def check_url(url, plain_http, what):
    """Refuse a URL that is not https (http when plain_http) or that carries credentials."""
    parts = urlsplit(url)
    if parts.scheme not in (("https", "http") if plain_http else ("https",)):
        raise GitOpsError("%s: %s is not https; plain HTTP is refused unless the chart sets plain_http" % (what, url))
    if parts.username or parts.password:
        raise GitOpsError("%s: the URL must not carry credentials; name the play's in the chart's credentials" % what)
    if not parts.hostname:
        raise GitOpsError("%s: '%s' has no host" % (what, url))


class Transport(object):
    """GETs for one chart entry.  `credentials`: {username, password} or {token} or {}; `ca_file`: a
    PEM bundle trusted instead of the system's; `what`: how errors name the chart."""

    def __init__(self, what, credentials=None, ca_file=None, plain_http=False, timeout=TIMEOUT):
        self.what = what
        self.credentials = credentials or {}
        self.plain_http = plain_http
        self.timeout = timeout
        self.requests = 0
        try:
            context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        except (IOError, OSError, ssl.SSLError) as exc:
            raise GitOpsError("%s: the CA bundle %s cannot be read (%s)" % (what, ca_file, exc))
        self._opener = build_opener(HTTPSHandler(context=context), _NoRedirect())

    def basic(self):
        """The Authorization header of the play's user name and password, or None."""
        user, password = self.credentials.get("username"), self.credentials.get("password")
        if user is None and password is None:
            return None
        raw = ("%s:%s" % (user or "", password or "")).encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def own_authorization(self):
        """What the repository's own host gets: a bearer token, else basic auth, else nothing."""
        if self.credentials.get("token"):
            return "Bearer " + self.credentials["token"]
        return self.basic()

    def get(self, url, max_bytes, accept=None, authorization=None):
        """GET `url`; follow up to MAX_REDIRECTS redirects, sending `authorization` only to the first
        URL's scheme, host and port.  Returns a Response for any status (the caller judges 401/404);
        raises on network errors and on a body over `max_bytes`."""
        check_url(url, self.plain_http, self.what)
        first = origin(url)
        for _hop in range(MAX_REDIRECTS + 1):
            headers = {"User-Agent": "gitops.core"}
            if accept:
                headers["Accept"] = accept
            if authorization and origin(url) == first:
                headers["Authorization"] = authorization
            status, answer_headers, body = self._once(url, headers, max_bytes)
            if status in (301, 302, 303, 307, 308) and answer_headers.get("Location"):
                target = urljoin(url, answer_headers["Location"])
                if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
                    raise GitOpsError("%s: %s redirects to %s, which is not https; refused"
                                      % (self.what, display(url), display(target)))
                check_url(target, self.plain_http, self.what)
                url = target
                continue
            return Response(status, answer_headers, body, url)
        raise GitOpsError("%s: more than %d redirects from %s" % (self.what, MAX_REDIRECTS, display(url)))

    def _once(self, url, headers, max_bytes):
        self.requests += 1
        try:
            answer = self._opener.open(Request(url, headers=headers), timeout=self.timeout)
        except HTTPError as exc:
            answer = exc
        except (URLError, socket.timeout, ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitOpsError("%s: %s cannot be reached (%s)" % (self.what, display(url), reason))
        try:
            status = answer.getcode()
            length = answer.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise GitOpsError("%s: %s is %s bytes, over the limit of %d" % (self.what, display(url), length, max_bytes))
            body = answer.read(max_bytes + 1) if status < 300 else answer.read(65536)
            if len(body) > max_bytes:
                raise GitOpsError("%s: %s is over the limit of %d bytes" % (self.what, display(url), max_bytes))
            return status, answer.headers, body
        except (socket.timeout, ssl.SSLError, OSError) as exc:
            raise GitOpsError("%s: reading %s failed (%s)" % (self.what, display(url), exc))
        finally:
            answer.close()


def display(url):
    """The URL without a query string (a storage redirect's signature) or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%d" % (host, parts.port)
    return "%s://%s%s" % (parts.scheme, host, parts.path)
