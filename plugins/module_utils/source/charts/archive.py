# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fetched chart archive checked before anything reads it, then written out file by file (never
tarfile's extractall): every member a regular file or folder under `<chart name>/`, no absolute path,
no `..`, no link or device; at most MAX_MEMBERS members, each file within the file limit and all of
them within the chart limit once decompressed; its Chart.yaml naming the chart and version asked for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import posixpath
import tarfile

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_one

MAX_MEMBERS = 10000
MAX_CHART_BYTES = 100 * 1024 * 1024  # decompressed, as Helm's own limit


def _member_path(member, what):
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or posixpath.isabs(name) or "\\" in name or ".." in parts or "\0" in name:
        raise GitOpsError("%s: archive member '%s' is an absolute path or goes through '..'; refused" % (what, name))
    return posixpath.normpath(name)


def read(data, chart, version, what, max_file_bytes, max_chart_bytes=MAX_CHART_BYTES):
    """{path inside the chart folder: bytes} of a chart archive, checked as the module says."""
    files, total = {}, 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS:
                    raise GitOpsError("%s: the archive has more than %d members; refused" % (what, MAX_MEMBERS))
                path = _member_path(member, what)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise GitOpsError("%s: archive member '%s' is a link or a special file; refused" % (what, member.name))
                head, _sep, rest = path.partition("/")
                if head != chart or not rest:
                    raise GitOpsError("%s: archive member '%s' is not inside the folder '%s/'; refused"
                                      % (what, member.name, chart))
                if member.size > max_file_bytes:
                    raise GitOpsError("%s: archive member '%s' is %d bytes, over the limit of %d (max_file_bytes)"
                                      % (what, member.name, member.size, max_file_bytes))
                total += member.size
                if total > max_chart_bytes:
                    raise GitOpsError("%s: the archive holds over %d bytes decompressed; refused" % (what, max_chart_bytes))
                if rest in files:
                    raise GitOpsError("%s: archive member '%s' appears twice; refused" % (what, member.name))
                files[rest] = tar.extractfile(member).read(max_file_bytes + 1)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise GitOpsError("%s: not a readable chart archive (%s)" % (what, exc))
    if "Chart.yaml" not in files:
        raise GitOpsError("%s: the archive has no %s/Chart.yaml" % (what, chart))
    meta, _lines = load_one(files["Chart.yaml"].decode("utf-8", "replace"), "%s: Chart.yaml" % what)
    if not isinstance(meta, dict):
        raise GitOpsError("%s: Chart.yaml is not a mapping" % what)
    if meta.get("name") != chart or str(meta.get("version")) != version:
        raise GitOpsError("%s: the archive holds chart %s version %s, not %s version %s as asked; refused"
                          % (what, meta.get("name"), meta.get("version"), chart, version))
    return files


def write(files, chart, dest):
    """Write the checked files under `dest/<chart>`; return that folder."""
    top = os.path.join(dest, chart)
    for rel, data in sorted(files.items()):
        path = os.path.join(top, *rel.split("/"))
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700)
        with open(path, "wb") as fh:
            fh.write(data)
    return top
