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
          verify: provenance     # the .prov signed by a key of trusted_keys[trust] (gpg_keys); or cosign:
                                 # a cosign signature by a key of trusted_keys[trust] (cosign_keys)
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
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_one
from ansible_collections.gitops.core.plugins.module_utils.source import chart_probe
from ansible_collections.gitops.core.plugins.module_utils.source.charts import archive, cache, fetch
from ansible_collections.gitops.core.plugins.module_utils.source.signatures import content_or_file

UNPINNED_MODES = ("refuse", "accept")
VERIFY_MODES = ("none", "provenance", "cosign")
# the field of a trusted_keys entry each verify mode takes its keys from
KEYS_OF = {"provenance": "gpg_keys", "cosign": "cosign_keys"}
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
    verify = entry.get("verify")
    if verify in KEYS_OF and not entry.get("trust"):
        raise f.Invalid(where + ("verify",), "%s needs trust (a key set of the play's trusted_keys with %s)"
                        % (verify, KEYS_OF[verify]))
    if verify == "cosign" and scheme != "oci":
        raise f.Invalid(where + ("verify",), "cosign signs charts in an OCI registry; a chart repository's charts "
                        "are signed with provenance files (verify: provenance)")


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


def _login(entry):
    """(the transport's credentials, the CA bundle) of one entry of the play's `credentials` (or None)."""
    entry = entry or {}
    return dict((k, entry[k]) for k in ("username", "password", "token") if entry.get(k)), entry.get("ca_file") or None


def _info(repository, chart, version, got, pinned, **extra):
    """One entry of the result's `charts`: what was fetched (never a credential)."""
    return dict(repository=repository, chart=chart, version=version, digest=got.digest, archive_digest=got.archive,
                pinned=pinned, from_cache=got.requests == 0, requests=got.requests, provenance=got.signer,
                cosign=got.cosign, **extra)


def spec(entry, params):
    verify, trust = entry.get("verify") or "none", entry.get("trust")
    field = KEYS_OF.get(verify)
    given = ((params.get("trusted_keys") or {}).get(trust) or {}).get(field) or [] if field else []
    keys = [content_or_file(k, "trusted_keys.%s.%s" % (trust, field)) for k in given]
    login, ca_file = _login((params.get("credentials") or {}).get(entry.get("credentials")))
    return fetch.Spec(entry["repository"], entry["chart"], str(entry["version"]), entry.get("digest"),
                      entry.get("unpinned") or "refuse", verify, keys, login, ca_file,
                      bool(entry.get("plain_http")), entry.get("allowed_hosts") or [], trust)


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
        self.info = _info(self.entry["repository"], self.entry["chart"], str(self.entry["version"]), got,
                          bool(self.entry.get("digest")), release=release)
        return self

    def __exit__(self, *exc):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def cache_path(params):
    return os.path.expanduser((params.get("helm") or {}).get("cache_dir") or cache.DEFAULT_ROOT)


# ---------------------------------------------------------------- a chart's dependencies (helm.dependencies=fetch)
def _locked(chart_dir, chart_rel):
    """{name: entry} of the chart's Chart.lock (what `helm dependency update` resolved and Git holds)."""
    path = os.path.join(chart_dir, "Chart.lock")
    if not os.path.isfile(path):
        raise GitOpsError("chart %s: helm.dependencies=fetch fetches what Chart.lock pins, and the chart has none: run "
                          "`helm dependency update` and commit Chart.lock" % chart_rel)
    with open(path, encoding="utf-8") as fh:
        data, _lines = load_one(fh.read(), "%s/Chart.lock" % chart_rel)
    entries = data.get("dependencies") if isinstance(data, dict) else None
    return dict((e["name"], e) for e in entries or [] if isinstance(e, dict) and isinstance(e.get("name"), str))


def with_dependencies(runner, chart_dir, chart_rel, missing, helm, play, dest, max_bytes):
    """(a private copy of the chart with each `missing` dependency fetched into its charts/ folder at the
    version its Chart.lock pins, their result entries, whether a fetched template calls lookup, whether
    one uses a random or time-based function).  A dependency's repository must be https:// or oci://;
    its credentials are the play's entry that helm.dependency_credentials names for that URL."""
    locked = _locked(chart_dir, chart_rel)
    copy = os.path.join(dest, os.path.basename(chart_dir.rstrip(os.sep)))
    shutil.copytree(chart_dir, copy, symlinks=False)  # the tree was checked: nothing in it resolves outside
    if not os.path.isdir(os.path.join(copy, "charts")):
        os.makedirs(os.path.join(copy, "charts"), 0o700)
    blobs = cache.Blobs(helm.get("cache_dir"))
    infos, lookup, random = [], False, False
    for dep in missing:
        name = dep["name"]
        lock = locked.get(name)
        if lock is None:
            raise GitOpsError("chart %s: dependency '%s' is not in Chart.lock: run `helm dependency update` and commit "
                              "Chart.lock" % (chart_rel, name))
        repository, version = str(lock.get("repository") or ""), str(lock.get("version") or "")
        if not repository.startswith(("https://", "oci://")) or not version:
            raise GitOpsError("chart %s: dependency '%s' comes from '%s'; only https:// repositories and oci:// registries "
                              "are fetched (vendor it in charts/ otherwise)" % (chart_rel, name, repository))
        named = (helm.get("dependency_credentials") or {}).get(repository)
        given = play.get("credentials") or {}
        if named and named not in given:
            raise GitOpsError("helm.dependency_credentials: '%s' is not among the play's credentials (%s)"
                              % (named, ", ".join(sorted(given)) or "none given"))
        login, ca_file = _login(given.get(named) if named else None)
        # Chart.lock pins the version: the content it resolved to at its first fetch is read back from the cache
        known = blobs.version_digest(repository, name, version)
        spec_ = fetch.Spec(repository, name, version, known, "accept", "none", [], login, ca_file, False, [], None)
        got = fetch.fetch(spec_, blobs, runner, max_bytes)
        blobs.remember_version(repository, name, version, got.digest)
        with open(os.path.join(copy, "charts", "%s-%s.tgz" % (name, version)), "wb") as fh:
            fh.write(got.data)
        for rel, data in got.files.items():
            if chart_probe.is_template(rel):
                text = data.decode("utf-8", "replace")
                lookup = lookup or chart_probe.calls_lookup(text)
                random = random or chart_probe.uses_random(text)
        infos.append(_info(repository, name, version, got, False, dependency_of=chart_rel))
    return copy, infos, lookup, random
