# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Helm chart from a classic chart repository, as `helm pull --repo` gets it: the repository's
index.yaml names each version's archive URL (relative to the repository, or absolute) and its
sha256; the provenance file is the archive's URL with `.prov` added.  An archive URL on another host
than the repository's is refused unless that host is allowed, and the play's credentials never go
to it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.six.moves.urllib.parse import urljoin, urlsplit

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_one
from ansible_collections.gitops.core.plugins.module_utils.source.charts.transport import display, origin

MAX_INDEX_BYTES = 64 * 1024 * 1024  # large public repositories' indexes run to tens of MB


def index_url(repository):
    return repository.rstrip("/") + "/index.yaml"


def entry(transport, repository, chart, version):
    """(archive URL, the index's sha256 digest of it or None) of one chart version."""
    url = index_url(repository)
    answer = transport.get(url, MAX_INDEX_BYTES, authorization=transport.own_authorization())
    if answer.status in (401, 403):
        raise GitOpsError("%s: %s answered %d (check the chart's credentials)" % (transport.what, display(url), answer.status))
    if answer.status != 200:
        raise GitOpsError("%s: %s answered %d" % (transport.what, display(url), answer.status))
    index, _lines = load_one(answer.body.decode("utf-8", "replace"), "%s: %s" % (transport.what, display(url)))
    versions = (index or {}).get("entries", {}).get(chart) if isinstance(index, dict) else None
    if not isinstance(versions, list):
        raise GitOpsError("%s: the repository's index has no chart '%s'" % (transport.what, chart))
    for item in versions:
        if isinstance(item, dict) and str(item.get("version")) == version:
            urls = item.get("urls") or []
            if not urls or not isinstance(urls[0], str):
                raise GitOpsError("%s: the index names no URL for version %s" % (transport.what, version))
            digest = item.get("digest")
            return urljoin(repository.rstrip("/") + "/", urls[0]), ("sha256:" + digest) if digest else None
    listed = [str(i.get("version")) for i in versions if isinstance(i, dict)][:10]
    raise GitOpsError("%s: the repository has no version %s of '%s' (it has %s)"
                      % (transport.what, version, chart, ", ".join(listed) or "none"))


def check_host(url, repository, allowed_hosts, what):
    """An archive URL elsewhere than the repository's host is refused unless its host is allowed."""
    if origin(url)[1:] == origin(repository)[1:]:
        return True
    host = urlsplit(url).hostname or ""
    if host.lower() in [h.lower() for h in allowed_hosts or ()]:
        return False
    raise GitOpsError("%s: the index points the archive at %s, another host than the repository's; refused "
                      "(list the host in the chart's allowed_hosts to allow it; credentials are never sent there)"
                      % (what, display(url)))
