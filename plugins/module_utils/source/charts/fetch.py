# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One chart named by repository (https://, index.yaml) or registry (oci://), its version and its
digest, fetched into the content-addressed cache (cache.py), checked (archive.py) and, when asked,
verified against its provenance (provenance.py) or its cosign signature (cosign.py).

The digest is the chart's identity: the sha256 of the archive for a repository chart, of the OCI
manifest for a registry chart (what `helm push` prints).  A pinned chart already in the cache is
read from it without a request: a registry outage stops neither a sync nor a drift check.  A chart
fetched is held to its pin: a tag or index that now serves other content is refused naming both
digests.  A chart without a pin is refused (naming the digest served now, to pin) unless the entry
accepts it (unpinned=accept); the digest it resolved is then returned."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.charts import archive, cosign, oci, provenance, repo
from ansible_collections.gitops.core.plugins.module_utils.source.charts.cache import digest_of
from ansible_collections.gitops.core.plugins.module_utils.source.charts.transport import Transport

# what a chart entry names (`keys`: the public keys of its trust that `verify` uses, armored OpenPGP for
# provenance, PEM for cosign; `trust` that key set's name; `credentials`: {username, password} or
# {token}; `ca_file`: a PEM bundle)
Spec = namedtuple("Spec", "repository chart version digest unpinned verify keys credentials ca_file plain_http "
                          "allowed_hosts trust")
# what was fetched: `files` {path in the chart: bytes}; `digest` the chart's (above); `archive` the
# archive's sha256; `requests` how many were made (0: from the cache); `signer` the provenance key;
# `cosign` the cosign signature's {key, fingerprint, format}; `data` the archive itself
Fetched = namedtuple("Fetched", "files digest archive requests signer cosign url data")


def describe(spec):
    return "chart %s/%s %s" % (spec.repository.rstrip("/"), spec.chart, spec.version)


def _pin_check(spec, served, what):
    if spec.digest and served != spec.digest:
        raise GitOpsError("%s: the repository now serves %s, not the pinned %s (the version was re-published or the "
                          "tag moved); refused - review the new chart and pin its digest" % (what, served, spec.digest))
    if not spec.digest and spec.unpinned != "accept":
        raise GitOpsError("%s has no digest; pin it (digest: %s is what the repository serves now) or set "
                          "unpinned=accept" % (what, served))


def _oci(spec, blobs, registry, what, max_bytes):
    manifest = blobs.get(spec.digest) if spec.digest else None
    digest = spec.digest
    if manifest is None:
        found = registry.manifest(oci.tag(spec.version))
        if found is None:
            raise GitOpsError("%s: the registry has no tag %s" % (what, oci.tag(spec.version)))
        digest, manifest = found
        _pin_check(spec, digest, what)
    chart_layer, prov_layer = oci.layers(manifest, what)
    data = blobs.get(chart_layer["digest"])
    if data is None:
        data = registry.blob(chart_layer, max_bytes)
    prov = None
    if spec.verify == "provenance":
        if prov_layer is None:
            raise GitOpsError("%s: verify=provenance, but the registry holds no provenance layer for it (push the "
                              "chart with its .prov file beside it)" % what)
        prov = blobs.get(prov_layer["digest"]) or registry.blob(prov_layer, 1024 * 1024)
        blobs.put(prov)
    blobs.put(data)
    blobs.put(manifest)  # last: a cached manifest means its layers are cached too
    return digest, data, prov, registry.base


def _repository(spec, blobs, transport, what, max_bytes):
    data = blobs.get(spec.digest) if spec.digest else None
    prov_file = os.path.join(blobs.root, "provenance", (spec.digest or ":").split(":", 1)[1] + ".prov")
    prov = None
    url = repo.index_url(spec.repository)
    if data is not None and spec.verify == "provenance":
        prov = _read(prov_file)
        if prov is None:
            data = None  # fetch both again
    if data is None:
        url, listed = repo.entry(transport, spec.repository, spec.chart, spec.version)
        own = repo.check_host(url, spec.repository, spec.allowed_hosts, what)
        authorization = transport.own_authorization() if own else None
        answer = transport.get(url, max_bytes, authorization=authorization)
        if answer.status != 200:
            raise GitOpsError("%s: %s answered %d" % (what, url.split("?")[0], answer.status))
        data = answer.body
        digest = digest_of(data)
        if listed and listed != digest:
            raise GitOpsError("%s: the archive is %s, but the repository's index says %s; refused" % (what, digest, listed))
        _pin_check(spec, digest, what)
        if spec.verify == "provenance":
            answer = transport.get(url + ".prov", 1024 * 1024, authorization=authorization)
            if answer.status != 200:
                raise GitOpsError("%s: verify=provenance, but %s.prov answered %d" % (what, url.split("?")[0], answer.status))
            prov = answer.body
        blobs.put(data)
        if prov is not None:
            _write(prov_file, prov, blobs)
    return digest_of(data), data, prov, url


def _cosign(spec, blobs, registry, trusted, digest, what):
    """The cosign signature of the manifest `digest` by a trusted key: from what the cache kept of the
    registry's signatures when that still verifies, else from the registry (then kept)."""
    path = os.path.join(blobs.root, "cosign", digest.split(":", 1)[1] + ".json")
    kept = cosign.loads(_read(path) or b"")
    if kept is not None:
        try:
            return cosign.verify(kept, digest, trusted, what)
        except GitOpsError:
            pass  # a signature may have been added since, or the trust changed: ask the registry
    evidence = cosign.collect(registry, digest, what)
    signer = cosign.verify(evidence, digest, trusted, what)
    _write(path, cosign.dumps(evidence), blobs)
    return signer


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def _write(path, data, blobs):
    try:
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o755)
        tmp = path + ".part-%d" % os.getpid()
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        raise GitOpsError("the chart cache %s cannot be written (%s); set helm.cache_dir" % (blobs.root, exc))


def fetch(spec, blobs, runner, max_file_bytes, max_chart_bytes=archive.MAX_CHART_BYTES):
    """Fetched for `spec` (see the module's docstring); raises naming the chart."""
    what = describe(spec)
    transport = Transport(what, spec.credentials, spec.ca_file, spec.plain_http)
    signed_by = None
    if spec.repository.startswith("oci://"):
        trusted = cosign.keys(spec.keys, "trusted_keys.%s.cosign_keys" % spec.trust, what) if spec.verify == "cosign" else None
        registry = oci.Registry(transport, spec.repository, spec.chart, spec.plain_http)
        digest, data, prov, url = _oci(spec, blobs, registry, what, max_chart_bytes)
        if trusted:
            signed_by = _cosign(spec, blobs, registry, trusted, digest, what)
    else:
        digest, data, prov, url = _repository(spec, blobs, transport, what, max_chart_bytes)
    archive_digest = digest_of(data)
    signer = None
    if spec.verify == "provenance":
        filename = "%s-%s.tgz" % (spec.chart, spec.version)
        signer = provenance.verify(runner, prov, archive_digest, filename, spec.keys, what)
    files = archive.read(data, spec.chart, spec.version, what, max_file_bytes, max_chart_bytes)
    return Fetched(files, digest, archive_digest, transport.requests, signer, signed_by, url, data)
