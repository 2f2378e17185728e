# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Helm chart from an OCI registry, as `helm pull oci://...` gets it: the manifest of the tag (the
chart version, `+` written `_`), its chart layer and, when pushed beside it, its provenance layer.
The manifest's sha256 is the chart's digest (what `helm push` prints); each layer is checked against
the digest and size the manifest gives.

Registries ask for credentials with a 401 and a challenge: Basic (the play's user name and password,
to the registry's host only) or Bearer (a token from the challenge's realm, over https, asked with
the play's credentials, or anonymously without them)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.six.moves.urllib.parse import urlencode, urlsplit

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.charts.cache import digest_of
from ansible_collections.gitops.core.plugins.module_utils.source.charts.transport import display

MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
PROV_TYPE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def base_url(repository, chart, plain_http):
    """(https://host/v2/<path>/<chart>, display name) of oci://host/path and a chart name."""
    parts = urlsplit(repository)
    host = parts.netloc
    path = (parts.path.strip("/") + "/" + chart).strip("/")
    scheme = "http" if plain_http else "https"
    return "%s://%s/v2/%s" % (scheme, host, path), path


class Registry(object):
    """Requests to one repository of one registry, with the token its challenge asks for."""

    def __init__(self, transport, repository, chart, plain_http):
        self.transport = transport
        self.base, self.path = base_url(repository, chart, plain_http)
        self.what = transport.what
        self._authorization = None

    def _token(self, challenge):
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise GitOpsError("%s: the registry's Bearer challenge names no realm" % self.what)
        query = {"scope": params.get("scope") or "repository:%s:pull" % self.path}
        if params.get("service"):
            query["service"] = params["service"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        answer = self.transport.get(url, 1024 * 1024, authorization=self.transport.basic())
        if answer.status != 200:
            raise GitOpsError("%s: the registry's token service %s answered %d%s" % (
                self.what, display(url), answer.status,
                " (check the chart's credentials)" if answer.status in (401, 403) else ""))
        try:
            body = json.loads(answer.body.decode("utf-8"))
            return "Bearer " + (body.get("token") or body["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise GitOpsError("%s: the registry's token service %s answered no token" % (self.what, display(url)))

    def get(self, suffix, max_bytes, accept=None, absent=(404,)):
        """The body of a 200 answer, None for a status of `absent`; raise naming the chart otherwise."""
        url = "%s/%s" % (self.base, suffix)
        answer = self.transport.get(url, max_bytes, accept=accept, authorization=self._authorization)
        if answer.status == 401 and self._authorization is None:  # the registry's challenge, answered once
            challenge = answer.headers.get("WWW-Authenticate") or ""
            if challenge.lower().startswith("bearer"):
                self._authorization = self._token(challenge)
            else:
                self._authorization = self.transport.own_authorization()
                if self._authorization is None:
                    raise GitOpsError("%s: the registry asks for credentials (401); name the play's in the chart's "
                                      "credentials" % self.what)
            answer = self.transport.get(url, max_bytes, accept=accept, authorization=self._authorization)
        if answer.status in (401, 403):
            raise GitOpsError("%s: the registry refused the credentials for %s (%d)" % (self.what, display(url), answer.status))
        if answer.status in absent:
            return None
        if answer.status != 200:
            raise GitOpsError("%s: %s answered %d" % (self.what, display(url), answer.status))
        return answer.body

    def manifest(self, reference, accept=MANIFEST_TYPES):
        """(digest, manifest bytes) of a tag or digest, or None when the registry has no such tag."""
        body = self.get("manifests/%s" % reference, MAX_MANIFEST_BYTES, accept=accept)
        return None if body is None else (digest_of(body), body)

    def referrers(self, digest):
        """The OCI 1.1 referrers index of a manifest (bytes), or None when the registry does not answer
        that API (404, 400, 405 or 501: clients then read the `sha256-<hex>` tag)."""
        return self.get("referrers/%s" % digest, MAX_MANIFEST_BYTES, accept="application/vnd.oci.image.index.v1+json",
                        absent=(400, 404, 405, 501))

    def blob(self, layer, max_bytes):
        if layer["size"] > max_bytes:
            raise GitOpsError("%s: the chart layer is %d bytes, over the limit of %d" % (self.what, layer["size"], max_bytes))
        body = self.get("blobs/%s" % layer["digest"], max_bytes)
        if body is None:
            raise GitOpsError("%s: the registry has no blob %s, which the manifest names" % (self.what, layer["digest"]))
        if digest_of(body) != layer["digest"] or len(body) != layer["size"]:
            raise GitOpsError("%s: blob %s does not match its digest; refused" % (self.what, layer["digest"]))
        return body


def tag(version):
    """The OCI tag of a chart version (OCI tags cannot hold `+`; Helm writes `_`)."""
    return version.replace("+", "_")


def layers(manifest_bytes, what):
    """(chart layer, provenance layer or None) of a Helm chart manifest, each {digest, size}."""
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        config = manifest.get("config") or {}
        found = {}
        for layer in manifest.get("layers") or []:
            found.setdefault(layer["mediaType"], {"digest": str(layer["digest"]), "size": int(layer["size"])})
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GitOpsError("%s: the registry's manifest is not an OCI image manifest" % what)
    if config.get("mediaType") != CONFIG_TYPE or CHART_TYPE not in found:
        raise GitOpsError("%s: the artifact is not a Helm chart (config %s, layers %s)" % (
            what, config.get("mediaType"), ", ".join(sorted(found)) or "none"))
    return found[CHART_TYPE], found.get(PROV_TYPE)
