# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chart cache: blobs (chart archives, OCI manifests, provenance files) stored by the sha256 of
their content, `<root>/sha256/<hex>`.  A blob is read back only when its content still has its name's
digest (a damaged one is removed and fetched again); it is written to a temporary file and renamed,
so a concurrent run sees it whole or not at all.  `<root>/versions/<hex>` records the digest a chart
version pinned by version only (a dependency of Chart.lock) resolved to.  Chart archives are public
content: no credential is ever stored here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

DEFAULT_ROOT = os.path.join("~", ".cache", "gitops.core", "charts")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value, what):
    """A digest as the chart entries give it: sha256:<64 lowercase hex digits>."""
    if not isinstance(value, str) or not DIGEST.match(value):
        raise GitOpsError("%s must be sha256:<64 hex digits>, got %r" % (what, value))
    return value


class Blobs(object):
    def __init__(self, root=None):
        self.root = os.path.expanduser(root or DEFAULT_ROOT)

    def path(self, digest):
        return os.path.join(self.root, "sha256", digest.split(":", 1)[1])

    def get(self, digest):
        """The blob's bytes, or None when it is not cached (or no longer matches its digest)."""
        path = self.path(digest)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except (IOError, OSError):
            return None
        if digest_of(data) != digest:
            try:
                os.unlink(path)
            except OSError:
                pass
            return None
        return data

    def put(self, data):
        digest = digest_of(data)
        path = self.path(digest)
        if os.path.exists(path):
            return digest
        folder = os.path.dirname(path)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o755)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        except (IOError, OSError) as exc:
            raise GitOpsError("the chart cache %s cannot be written (%s); set helm.cache_dir" % (self.root, exc))
        return digest

    def _version_path(self, repository, chart, version):
        key = hashlib.sha256(("%s\0%s\0%s" % (repository.rstrip("/"), chart, version)).encode("utf-8")).hexdigest()
        return os.path.join(self.root, "versions", key)

    def version_digest(self, repository, chart, version):
        """The digest a version of a chart resolved to when it was fetched unpinned, while that content is
        still cached (a dependency that Chart.lock pins by version only); else None."""
        try:
            with open(self._version_path(repository, chart, version), "r") as fh:
                digest = fh.read().strip()
        except (IOError, OSError, UnicodeDecodeError):
            return None
        return digest if DIGEST.match(digest) and self.get(digest) is not None else None

    def remember_version(self, repository, chart, version, digest):
        """Record what a version resolved to (version_digest); best effort, as the cache is."""
        path = self._version_path(repository, chart, version)
        try:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), 0o755)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(path))
            with os.fdopen(fd, "w") as fh:
                fh.write(digest + "\n")
            os.rename(tmp, path)
        except (IOError, OSError) as exc:
            raise GitOpsError("the chart cache %s cannot be written (%s); set helm.cache_dir" % (self.root, exc))
