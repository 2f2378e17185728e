# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Charts named in Git by repository or registry (a `helm.charts` entry with `repository` instead of
`path`): the entry checked, its keys and credentials taken from the play by name (never from Git),
the chart fetched (charts/fetch.py) and written into a private folder that helm template renders and
that is removed at the end.  Values files stay files of the checkout.

    helm:
      charts:
        - repository: oci://registry.example.com/charts   # or https://charts.example.com (index.yaml)
          chart: podinfo
          version: 6.9.2
          digest: sha256:...     # OCI: the manifest's (helm push prints it); https: the archive's
          verify: provenance     # the .prov signed by a key of trusted_keys[trust]
          trust: charts-team
          credentials: registry  # credentials[registry]: username/password or token, ca_file
          values_files: [apps/podinfo/values.yaml]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common import fields as f
from ansible_collections.gitops.core.plugins.module_utils.common import paths
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.charts import archive, cache, fetch
from ansible_collections.gitops.core.plugins.module_utils.source.signatures import content_or_file

UNPINNED_MODES = ("refuse", "accept")
VERIFY_MODES = ("none", "provenance")
REMOTE_FIELDS = ("repository", "chart", "version", "digest", "unpinned", "verify", "trust", "credentials",
                 "plain_http", "allowed_hosts")
_CHART_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")


def is_remote(entry):
    return bool(entry.get("repository"))


def _check_entry(entry, where, trusted, credentials):
    if entry.get("path") and entry.get("repository"):
        raise f.Invalid(where + ("repository",),
                        "a chart entry names a chart of the checkout (path) or a fetched one (repository), not both")
    if not entry.get("repository"):
        if not entry.get("path"):
            raise f.Invalid(where + ("path",), "is required (or repository, chart and version for a fetched chart)")
        extra = [k for k in REMOTE_FIELDS if entry.get(k) not in (None, [], False)]
        if extra:
            raise f.Invalid(where + (extra[0],), "is for a fetched chart (with repository); this entry names a path")
        return
    repository = entry["repository"]
    scheme = repository.split("://", 1)[0] if "://" in repository else ""
    if scheme not in ("https", "oci", "http"):
        raise f.Invalid(where + ("repository",), "'%s' must be an https:// chart repository or an oci:// registry"
                        % repository)
    if scheme == "http" and not entry.get("plain_http"):
        raise f.Invalid(where + ("repository",), "'%s' is plain HTTP; refused unless plain_http is true" % repository)
    if "@" in repository.split("://", 1)[1].split("/", 1)[0]:
        raise f.Invalid(where + ("repository",), "must not carry credentials; name the play's in credentials")
    for key in ("chart", "version"):
        if not entry.get(key):
            raise f.Invalid(where + (key,), "is required with repository")
    if not _CHART_NAME.match(entry["chart"]):
        raise f.Invalid(where + ("chart",), "'%s' is not a chart name" % entry["chart"])
    if entry.get("digest") is not None and not cache.DIGEST.match(entry["digest"]):
        raise f.Invalid(where + ("digest",), "'%s' must be sha256:<64 lowercase hex digits>" % entry["digest"])
    for key, names, option in (("trust", trusted, "trusted_keys"), ("credentials", credentials, "credentials")):
        if entry.get(key) and entry[key] not in names:
            raise f.Invalid(where + (key,), "'%s' is not among the play's %s (%s); keys and credentials are named in "
                            "Git, given by the play" % (entry[key], option, ", ".join(sorted(names)) or "none given"))
    if entry.get("verify") == "provenance" and not entry.get("trust"):
        raise f.Invalid(where + ("verify",), "provenance needs trust (a key set of the play's trusted_keys)")


def check_entries(helm, trusted=(), credentials=(), where=("helm",)):
    """Raise fields.Invalid (the field's path from `where`) for a chart entry that is wrong."""
    for index, entry in enumerate((helm or {}).get("charts") or []):
        _check_entry(entry, tuple(where) + ("charts", index), set(trusted), set(credentials))


def check_module_entries(params):
    """check_entries for git_desired_state's own helm option, as a GitOpsError."""
    try:
        check_entries(params.get("helm"), (params.get("trusted_keys") or {}).keys(),
                      (params.get("credentials") or {}).keys())
    except f.Invalid as bad:
        raise GitOpsError("%s: %s" % (paths.dotted(bad.path), bad.message))


def label(entry):
    """How messages and the objects' source name a fetched chart: <repository>/<chart>@<version>."""
    return "%s/%s@%s" % (entry["repository"].rstrip("/"), entry["chart"], entry["version"])


def spec(entry, params):
    keyset = (params.get("trusted_keys") or {}).get(entry.get("trust")) or {}
    login = dict((params.get("credentials") or {}).get(entry.get("credentials")) or {})
    keys = [content_or_file(k, "trusted_keys.%s.gpg_keys" % entry.get("trust")) for k in keyset.get("gpg_keys") or []]
    return fetch.Spec(entry["repository"], entry["chart"], str(entry["version"]), entry.get("digest"),
                      entry.get("unpinned") or "refuse", entry.get("verify") or "none", keys,
                      dict((k, login[k]) for k in ("username", "password", "token") if login.get(k)),
                      login.get("ca_file") or None, bool(entry.get("plain_http")), entry.get("allowed_hosts") or [])


class Fetched(object):
    """A fetched chart written into a private folder for the life of a `with` block: `path` its chart
    folder, `info` what the result says of it (never a credential)."""

    def __init__(self, runner, entry, params, max_bytes):
        self.runner, self.entry, self.params, self.max_bytes = runner, entry, params, max_bytes
        self.tmp = self.path = self.info = None

    def __enter__(self):
        helm = self.params.get("helm") or {}
        blobs = cache.Blobs(helm.get("cache_dir"))
        got = fetch.fetch(spec(self.entry, self.params), blobs, self.runner, self.max_bytes)
        self.tmp = tempfile.mkdtemp(prefix="gitops-core-chart-")
        try:
            self.path = archive.write(got.files, self.entry["chart"], self.tmp)
        except BaseException:
            self.__exit__()
            raise
        settings = dict(helm, **dict((k, v) for k, v in self.entry.items() if v is not None))
        release = "%s/%s" % (settings.get("release_namespace") or "default", settings.get("release_name") or self.entry["chart"])
        self.info = dict(repository=self.entry["repository"], chart=self.entry["chart"], release=release,
                         version=str(self.entry["version"]), digest=got.digest, archive_digest=got.archive,
                         pinned=bool(self.entry.get("digest")), from_cache=got.requests == 0, requests=got.requests,
                         provenance=got.signer)
        return self

    def __exit__(self, *exc):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def cache_path(params):
    return os.path.expanduser((params.get("helm") or {}).get("cache_dir") or cache.DEFAULT_ROOT)
