# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering of desired-state sources: Jinja2 templates (sandboxed, strict undefined) and
Kustomize folders (root-only load restrictor, no remote resources, no plugins)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible_collections.gitops.core.plugins.module_utils.common import sanitize, vocab
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import sops
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.manifests import (
    KUSTOMIZATION_FILES, MAX_FILE_BYTES, inside, load_mapping, read_text)

# Fields of a kustomization that name other files or folders to load.
_KUSTOMIZE_REFERENCES = ("resources", "bases", "components", "crds", "configurations", "transformers",
                         "generators", "validators")
KUSTOMIZE_TIMEOUT = 300


def _checkout_loader(jinja2, root, max_bytes):
    """A Jinja loader for {% include %}, {% import %} and {% extends %}: names are paths relative
    to the checkout's root, read with the same limits as any file, never outside the checkout."""

    class CheckoutLoader(jinja2.BaseLoader):
        def get_source(self, environment, template):
            if template.startswith("/") or not os.path.isfile(os.path.join(root, template)):
                raise jinja2.TemplateNotFound(template)
            try:
                text = read_text(root, template, max_bytes)
            except GitOpsError as exc:
                raise jinja2.TemplateError("%s: %s" % (template, exc.message))
            return text, None, lambda: True

    return CheckoutLoader()


def render_jinja(text, name, variables, root=None, max_bytes=MAX_FILE_BYTES):
    """Render one template with `variables`; undefined variables and unsafe attribute access fail.
    With `root` (the checkout), templates may include or import others from it by their path
    relative to the root; without it, such tags fail with a clear error."""
    try:
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment
    except ImportError:
        raise GitOpsError("rendering %s needs the Jinja2 Python package (pip install Jinja2)" % name)
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                               loader=_checkout_loader(jinja2, root, max_bytes) if root else None)
    try:
        return env.from_string(text).render(**(variables or {}))
    except jinja2.TemplateSyntaxError as exc:
        raise GitOpsError("%s:%s Jinja syntax error: %s" % (exc.filename or name, exc.lineno, exc.message))
    except jinja2.TemplateNotFound as exc:
        raise GitOpsError("%s: Jinja template '%s' not found in the repository (names are paths from the "
                          "repository root)" % (name, exc.name))
    except jinja2.TemplateError as exc:
        raise GitOpsError("%s: Jinja error: %s" % (name, exc))
    except TypeError as exc:
        # Jinja raises TypeError for include/import/extends with no loader configured.
        raise GitOpsError("%s: Jinja error: %s (include, import and extends need the repository checkout)"
                          % (name, exc))
    except RecursionError:
        raise GitOpsError("%s: Jinja error: templates include each other without end" % name)


def kustomize_command(path):
    """The command that builds `path`: a standalone kustomize, else `kubectl kustomize`."""
    kustomize = shutil.which("kustomize")
    if kustomize:
        return [kustomize, "build", "--load-restrictor", "LoadRestrictionsRootOnly", path]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsRootOnly", path]
    raise GitOpsError("rendering %s needs kustomize or kubectl on PATH; neither was found" % path)


def _secret_literals(spec):
    """The secretGenerator literals of a kustomization, whole (`key=value`) and their values:
    kustomize quotes a malformed literal whole in its error."""
    out = set()
    for generator in spec.get("secretGenerator") or []:
        for literal in (generator.get("literals") or []) if isinstance(generator, dict) else []:
            if isinstance(literal, str):
                out |= {literal, literal.split("=", 1)[-1]}
    return {text for text in out if len(text) >= vocab.MASK_MIN_LENGTH}


def _generator_files(spec):
    """The local files a kustomization's generators and patches read (`key=path` entries too)."""
    out = []
    for field in ("secretGenerator", "configMapGenerator"):
        for generator in spec.get(field) or []:
            if isinstance(generator, dict):
                for entry in (generator.get("files") or []) + (generator.get("envs") or []) + \
                        ([generator["env"]] if generator.get("env") else []):
                    if isinstance(entry, str):
                        out.append(entry.split("=", 1)[-1])
    for patch in spec.get("patches") or []:
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            out.append(patch["path"])
    out += [p for p in spec.get("patchesStrategicMerge") or [] if isinstance(p, str) and "\n" not in p]
    return out


def check_kustomization_tree(root, rel_dir, read=None):
    """Every file or folder a kustomization under `rel_dir` references must exist inside the
    checkout: remote bases would load content that no pinned, verified commit vouches for.
    Returns the secretGenerator literals found, to keep them out of error text.  `read`, when
    given, collects the real paths of the files and folders the kustomizations read."""
    top = inside(root, rel_dir)
    secrets = set()
    read = read if read is not None else set()
    read.add(top)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            if name not in KUSTOMIZATION_FILES:
                continue
            kfile = os.path.join(dirpath, name)
            rel_kfile = os.path.relpath(kfile, os.path.realpath(root))
            with open(inside(root, kfile), encoding="utf-8") as fh:
                spec = load_mapping(fh.read(), rel_kfile)
            for field in _KUSTOMIZE_REFERENCES:
                for entry in spec.get(field) or []:
                    if not isinstance(entry, str):
                        continue  # inline generator/transformer configs
                    target = os.path.join(dirpath, entry)
                    if "://" in entry or entry.startswith("git@") or not os.path.exists(target):
                        raise GitOpsError(
                            "%s: %s entry '%s' is not a file or folder in the repository "
                            "(remote resources are refused)" % (rel_kfile, field, entry))
                    read.add(inside(root, target))
            for entry in _generator_files(spec):
                target = os.path.join(dirpath, entry)
                if os.path.exists(target):
                    read.add(inside(root, target))  # kustomize itself reports a missing one
            if spec.get("helmCharts") or spec.get("helmChartInflationGenerator"):
                raise GitOpsError("%s: helmCharts are not supported (they fetch charts at render time)"
                                  % rel_kfile)
            secrets |= _secret_literals(spec)
    return secrets


def _files_under(paths):
    for path in sorted(paths):
        if os.path.isfile(path):
            yield path
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                yield os.path.join(dirpath, name)


def encrypted_files(paths, max_bytes=MAX_FILE_BYTES):
    """The SOPS-encrypted files among `paths` and the files under them (real paths, sorted)."""
    found = set()
    for path in _files_under(paths):
        if os.path.islink(path) or os.path.getsize(path) > max_bytes:
            continue
        with open(path, "rb") as fh:
            if sops.looks_encrypted(fh.read().decode("utf-8", "replace")):
                found.add(path)
    return sorted(found)


def _decrypted_copy(root, files, decryption):
    """A copy of the checkout in the private folder with `files` decrypted in it; its root."""
    real_root = os.path.realpath(root)
    copy = os.path.join(decryption.folder, "checkout-%d" % len(os.listdir(decryption.folder)))
    shutil.copytree(real_root, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    for path in files:
        rel = os.path.relpath(path, real_root)
        decryption.decrypt(rel, path=path, output=os.path.join(copy, rel))
    return copy


def render_kustomize(runner, root, rel_dir, decryption, timeout=KUSTOMIZE_TIMEOUT):
    """The YAML stream that `kustomize build` makes of `rel_dir`.  SOPS-encrypted files it reads
    (generator files and envs, patches, resources) are decrypted with `decryption` into a private
    copy of the checkout, which kustomize builds instead."""
    read = set()
    secrets = check_kustomization_tree(root, rel_dir, read)
    encrypted = encrypted_files(read)
    if encrypted:
        first = os.path.relpath(encrypted[0], os.path.realpath(root))
        decryption.refuse_unless_enabled("%s (read by the kustomization %s)" % (first, rel_dir))
        start = decryption.checkpoint()
        root = _decrypted_copy(root, encrypted, decryption)
        secrets |= decryption.masked_values(since=start)
    path = inside(root, rel_dir)
    code, out, err = runner(kustomize_command(path), cwd=path, timeout=timeout)
    if code != 0:
        err = sanitize.mask(err.decode("utf-8", "replace").strip().replace(os.path.realpath(root) + os.sep, ""),
                            secrets)
        raise GitOpsError("kustomize build %s failed: %s" % (rel_dir, err[-2000:]))
    return out.decode("utf-8", "replace")
