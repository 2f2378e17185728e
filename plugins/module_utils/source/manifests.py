# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired state from files: find them (inside the checkout only), load them safely, validate
each object, flatten `*List` kinds, refuse duplicates, and digest the result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import json
import os
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.source.secrets import encrypted
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_all

DEFAULT_INCLUDE = ("*.yaml", "*.yml", "*.json")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_OBJECTS = 20000

# One object of the desired state and where it came from ("file" is relative to the checkout).
Loaded = namedtuple("Loaded", "obj ref file document")
# One unit to render: a file ("plain" or "jinja"), a kustomization folder ("kustomize") or a Helm
# chart folder ("helm").
Source = namedtuple("Source", "path renderer")


_REAL_ROOTS = {}


def inside(root, path):
    """The real path of `path` (relative to `root` or absolute), refused when it resolves outside
    the real `root`, through any chain of symlinks.  The root's own real path is worked out once per
    run (a module run checks every file of the checkout against the same root, twice)."""
    real_root = _REAL_ROOTS.get(root)
    if real_root is None:
        real_root = _REAL_ROOTS[root] = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, path))
    if real != real_root and not real.startswith(real_root + os.sep):
        rel = os.path.relpath(os.path.join(root, path), root)
        raise GitOpsError("path '%s' resolves outside the repository" % rel)
    return real


def _matches(rel, patterns):
    name = os.path.basename(rel)
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(rel, p) for p in patterns)


def _is_kustomization_dir(path):
    return any(os.path.isfile(os.path.join(path, f)) for f in KUSTOMIZATION_FILES)


def is_chart_dir(path):
    return os.path.isfile(os.path.join(path, CHART_FILE))


def _folder_renderer(path, render):
    """How `render` treats a folder: "kustomize", "helm", or None to walk its files.  In auto mode a
    kustomization wins over a Chart.yaml in the same folder."""
    if render == "auto":
        return "kustomize" if _is_kustomization_dir(path) else "helm" if is_chart_dir(path) else None
    return render if render in ("kustomize", "helm") else None


def walk(root, top):
    """os.walk of `top` (a folder of the checkout) through symlinks, each folder refused when it
    resolves outside the checkout and visited once (a symlink loop ends), sub-folders sorted and
    `.git` left out.  The caller may prune `dirnames`, as with os.walk."""
    visited = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        real_dir = inside(root, dirpath)
        if real_dir in visited:  # a symlink loop inside the repository
            dirnames[:] = []
            continue
        visited.add(real_dir)
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for d in dirnames:
            inside(root, os.path.join(dirpath, d))
        yield dirpath, dirnames, filenames


def load_mapping(text, name):
    """The first YAML document of a file that must be a mapping (Chart.yaml, a kustomization)."""
    docs = load_all(text, name)
    data = docs[0][2] if docs else {}
    if not isinstance(data, dict):
        raise GitOpsError("%s: expected a mapping" % name)
    return data


def collect_sources(root, paths, recursive=True, include=None, exclude=(), render="auto"):
    """The files, kustomization folders and chart folders under `paths`, in a stable order.

    render: auto (kustomize for a folder with a kustomization file, helm for a folder with a
    Chart.yaml, jinja for *.j2, else plain), plain, jinja (every file is a template), kustomize (each
    path must be a kustomization) or helm (each path must be a chart)."""
    if include is None:
        include = DEFAULT_INCLUDE + (("*.j2",) if render in ("auto", "jinja") else ())
    real_root = os.path.realpath(root)
    sources = []
    seen = set()

    def add(rel, renderer):
        if rel not in seen:
            seen.add(rel)
            sources.append(Source(rel, renderer))

    def file_renderer(rel):
        if render == "jinja" or (render == "auto" and rel.endswith(".j2")):
            return "jinja"
        return "plain"

    for path in paths:
        real = inside(root, path)
        rel_top = os.path.relpath(real, real_root)
        if not os.path.exists(real):
            raise GitOpsError("path '%s' does not exist in the repository" % path)
        if os.path.isfile(real):
            if render in ("kustomize", "helm"):
                raise GitOpsError("path '%s' is a file; render=%s needs a folder with a %s"
                                  % (path, render, "kustomization" if render == "kustomize" else CHART_FILE))
            add(rel_top, file_renderer(rel_top))
            continue
        folder = _folder_renderer(real, render)
        if folder == "kustomize" and not _is_kustomization_dir(real):
            raise GitOpsError("path '%s' has no kustomization.yaml (render=kustomize)" % path)
        if folder == "helm" and not is_chart_dir(real):
            raise GitOpsError("path '%s' has no %s (render=helm needs a chart folder)" % (path, CHART_FILE))
        if folder:
            add(rel_top, folder)
            continue
        for dirpath, dirnames, filenames in walk(root, real):
            for d in list(dirnames):
                sub = os.path.join(dirpath, d)
                folder = _folder_renderer(sub, render) if render == "auto" and recursive else None
                if folder:  # rendered as a whole, unless `exclude` names the folder
                    dirnames.remove(d)
                    rel_sub = os.path.relpath(sub, real_root)
                    if not _matches(rel_sub, exclude):
                        add(rel_sub, folder)
            if not recursive:
                dirnames[:] = []
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, real_root)
                if not _matches(rel, include) or _matches(rel, exclude):
                    continue
                inside(root, full)
                add(rel, file_renderer(rel))
    return sorted(sources, key=lambda s: s.path)


def read_text(root, rel, max_bytes=MAX_FILE_BYTES):
    """A file's text, refused when it is over `max_bytes` or not UTF-8."""
    real = inside(root, rel)
    size = os.path.getsize(real)
    if size > max_bytes:
        raise GitOpsError("%s is %d bytes, over the limit of %d (max_file_bytes)" % (rel, size, max_bytes))
    with open(real, "rb") as fh:
        data = fh.read(max_bytes + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GitOpsError("%s is not UTF-8 text (byte %d)" % (rel, exc.start))


def _no_duplicate_pairs(name):
    def hook(pairs):
        out = {}
        for key, value in pairs:
            if key in out:
                raise GitOpsError("%s: duplicate key %r" % (name, key))
            out[key] = value
        return out
    return hook


def parse_documents(text, name, keep_vault=False):
    """(document index, data) of a YAML or JSON file or of rendered output (`keep_vault`: see
    yamlsafe.load_all)."""
    if name.endswith(".json"):
        try:
            return [(1, json.loads(text, object_pairs_hook=_no_duplicate_pairs(name)))]
        except ValueError as exc:
            raise GitOpsError("%s: JSON syntax error: %s" % (name, exc))
    return [(index, data) for index, _line, data in load_all(text, name, keep_vault=keep_vault)]


def _require_str(value, field, where):
    if not isinstance(value, str) or not value:
        what = "is missing" if value in (None, "") else "must be a string, got %s" % type(value).__name__
        raise GitOpsError("%s: %s %s" % (where, field, what))


def validate(obj, where):
    """Refuse what cannot be a Kubernetes object; `where` names file and document."""
    if not isinstance(obj, dict):
        raise GitOpsError("%s: expected a Kubernetes object (a mapping), got %s" % (where, type(obj).__name__))
    _require_str(obj.get("apiVersion"), "apiVersion", where)
    _require_str(obj.get("kind"), "kind", where)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise GitOpsError("%s: metadata %s" % (where, "is missing" if meta is None else "must be a mapping"))
    _require_str(meta.get("name"), "metadata.name", where)
    if "namespace" in meta:
        _require_str(meta.get("namespace"), "metadata.namespace", where)
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise GitOpsError("%s: metadata.%s must be a mapping" % (where, field))
        for key, value in values.items():
            if not isinstance(value, str):
                raise GitOpsError("%s: metadata.%s.%s must be a string, got %s"
                                  % (where, field, key, type(value).__name__))


def objects_from_documents(documents, name):
    """Validated objects (Loaded records) from parsed documents; `*List` kinds are flattened."""
    out = []
    for index, data in documents:
        where = "%s, document %d" % (name, index)
        encrypted.refuse(data, where)
        if isinstance(data, dict) and str(data.get("kind", "")).endswith("List") and "items" in data:
            items = data.get("items") or []
            if not isinstance(items, list):
                raise GitOpsError("%s: items must be a list" % where)
            for i, item in enumerate(items):
                item_where = "%s, items[%d]" % (where, i)
                validate(item, item_where)
                out.append(Loaded(item, ObjectRef.from_object(item), name, index))
            continue
        validate(data, where)
        out.append(Loaded(data, ObjectRef.from_object(data), name, index))
    return out


def check_unique(loaded):
    """Refuse an object (group, kind, namespace, name) declared twice, naming both places."""
    first = {}
    for item in loaded:
        other = first.setdefault(item.ref.key, item)
        if other is not item:
            raise GitOpsError("%s is declared twice: %s document %d and %s document %d"
                              % (item.ref, other.file, other.document, item.file, item.document))


def check_count(loaded, max_objects=MAX_OBJECTS):
    if len(loaded) > max_objects:
        raise GitOpsError("the desired state has %d objects, over the limit of %d (max_objects)"
                          % (len(loaded), max_objects))


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(objects):
    """sha256 of the canonical JSON of the object list: same objects, same digest."""
    return hashlib.sha256(canonical_json(objects).encode("utf-8")).hexdigest()


def load_path(path):
    """(objects, sources) from a YAML/JSON file or a folder of them (the modules' `src`)."""
    if not os.path.exists(path):
        raise GitOpsError("src %s does not exist" % path)
    root, rel = (path, ".") if os.path.isdir(path) else (os.path.dirname(path) or ".", os.path.basename(path))
    loaded = []
    for source in collect_sources(root, [rel], render="plain"):
        loaded.extend(objects_from_documents(parse_documents(read_text(root, source.path), source.path), source.path))
    check_unique(loaded)
    return [item.obj for item in loaded], [{"file": item.file, "document": item.document} for item in loaded]
