# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""repo@version -> one commit and its Kubernetes objects: the DesiredState of DESIGN.md.

The repository is fetched, verified and checked out under its cache lock (source/checkout.py); the
objects are rendered and loaded still under that lock, so a concurrent run cannot move the checkout
while it is being read.  With `sets_file`, the sets of a declaration (source/sets.py) instead: each
set loaded alone, from the root checkout or from its own repository, fetched and verified by its own
rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, sanitize, yamlsafe
from ansible_collections.gitops.core.plugins.module_utils.source import (
    checkout, gitsource, helm, manifests, remote_charts, render, sets)
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import encrypted, sops, vault
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef


def _decrypted_documents(documents, text, name, path, decryption):
    """The documents of a file (or a Jinja template's output) in which SOPS-encrypted ones are
    decrypted, and for each document the index paths of its decrypted fields."""
    if not any(encrypted.is_sops(data) for _index, data in documents):
        return documents, {}
    fmt = "json" if name.endswith(".json") else "yaml"
    plain = decryption.decrypt(name, path=path, text=None if path else text, fmt=fmt)
    plain_documents = manifests.parse_documents(plain, name)
    exact = {}
    for (index, cipher), (_same, data) in zip(documents, plain_documents):
        if encrypted.is_sops(cipher):
            exact[index] = [p for p, _value in sops.encrypted_leaves(cipher, data)]
    return plain_documents, exact


def _unvaulted(text, name, decryption):
    """(text, encrypted whole): a file encrypted whole with Ansible Vault, decrypted."""
    if not encrypted.is_vault(text):
        return text, False
    if not decryption.enabled:
        raise GitOpsError("%s is encrypted with Ansible Vault; %s" % (name, yamlsafe.NOT_DECRYPTED))
    return decryption.vault.decrypt(text, name), True


def _vault_documents(documents, name, whole, decryption):
    """The documents with their `!vault` values decrypted, and the index paths of each document's
    decrypted fields (every field but the identity of a file encrypted whole)."""
    out, exact = [], {}
    for index, data in documents:
        data, paths = vault.decrypt_values(data, decryption.vault, "%s, document %d" % (name, index))
        paths = list(vault.leaf_paths(data)) if whole else paths
        if paths:
            exact[index] = paths
        out.append((index, data))
    return out, exact


def _rendered_documents(runner, dest, src, params, max_bytes, decryption):
    """The parsed documents of a file (plain or Jinja) or of a kustomization folder's build, SOPS
    documents decrypted, and the index paths of each document's decrypted fields."""
    if src.renderer == "kustomize":
        text = render.render_kustomize(runner, dest, src.path, decryption)
        name = "%s (kustomize build)" % src.path
        if len(text.encode("utf-8")) > max_bytes * 16:
            raise GitOpsError("%s output is over %d bytes" % (name, max_bytes * 16))
    else:
        text, whole = _unvaulted(manifests.read_text(dest, src.path, max_bytes), src.path, decryption)
        name = src.path
        if src.renderer == "jinja":
            text = render.render_jinja(text, src.path, params.get("template_vars"), root=dest, max_bytes=max_bytes)
            name = src.path[:-3] if src.path.endswith(".j2") else src.path
        documents, exact = _vault_documents(manifests.parse_documents(text, name, keep_vault=decryption.enabled),
                                            name, whole, decryption)
        path = manifests.inside(dest, src.path) if src.renderer != "jinja" and not whole else None
        documents, sops_exact = _decrypted_documents(documents, text, name, path, decryption)
        exact.update(sops_exact)
        return documents, exact
    return manifests.parse_documents(text, name), {}


def _values_files(helm_params):
    """The values files the helm settings name: files of the checkout that are never manifests."""
    named = list(helm_params.get("values_files") or [])
    for entry in helm_params.get("charts") or []:
        named += entry.get("values_files") or []
    return set(os.path.normpath(rel) for rel in named)


def _load(runner, dest, params, decryption):
    """(loaded objects, files, hooks left out, fetched charts) of one set of paths and charts."""
    paths = params.get("path") or ["."]
    helm_params = params.get("helm") or {}
    values = _values_files(helm_params)
    sources = [src for src in manifests.collect_sources(dest, paths, recursive=params.get("recursive", True),
                                                        include=params.get("include"),
                                                        exclude=params.get("exclude") or (),
                                                        render=params.get("render") or "auto")
               if not (src.renderer in ("plain", "jinja") and os.path.normpath(src.path) in values)]
    max_bytes = params.get("max_file_bytes") or manifests.MAX_FILE_BYTES
    max_objects = params.get("max_objects") or manifests.MAX_OBJECTS
    helm.check_chart_entries(helm_params, [s.path for s in sources if s.renderer == "helm"])
    loaded = []
    files = []
    left_out = []
    charts = []
    for src in sources:
        if src.renderer == "helm":
            objects, hooks = helm.render_chart(runner, dest, src.path, helm_params, max_bytes, decryption,
                                               play=params, charts=charts)
            left_out.extend(hooks)
        else:
            start = decryption.checkpoint()
            documents, exact = _rendered_documents(runner, dest, src, params, max_bytes, decryption)
            objects = manifests.objects_from_documents(documents, src.path)
            # a SOPS manifest names its decrypted fields exactly; kustomize's output is searched for the
            # values of the files it read decrypted
            forms = decryption.masked_values(since=start) if src.renderer == "kustomize" else set()
            for item in objects if (forms or exact) else ():
                decrypted.mark(item.obj, forms, "%s, document %d (%s)" % (item.file, item.document, item.ref),
                               exact=exact.get(item.document, ()))
        loaded.extend(objects)
        files.append(src.path)
        manifests.check_count(loaded, max_objects)
    for entry in helm_params.get("charts") or []:
        if remote_charts.is_remote(entry):  # a chart fetched from a repository or registry, pinned by digest
            with remote_charts.Fetched(runner, entry, params, max_bytes) as fetched:
                objects, hooks = helm.render_chart(runner, dest, remote_charts.label(entry), helm_params, max_bytes,
                                                   decryption, fetched, play=params, charts=charts)
            left_out.extend(hooks)
            loaded.extend(objects)
            charts.append(fetched.info)
            manifests.check_count(loaded, max_objects)
    manifests.check_unique(loaded)
    return loaded, files, left_out, charts


def _commit_result(root, changed):
    """What the module returns of the root repository's commit."""
    return dict(changed=changed, commit=root.commit, short_commit=root.commit[:12], previous_commit=root.previous,
                ref=root.ref or root.commit, commit_date=root.info["commit_date"], author=root.info["author"],
                subject=root.info["subject"], signature=root.signature, cache_dir=root.dest)


def _sources(loaded):
    return [{"ref": str(item.ref), "file": item.file, "document": item.document} for item in loaded]


def fetch_desired_state(params, runner):
    """Run one fetch-verify-load; return the module result.  `runner` runs git, gpg, kustomize
    and helm (runner.ModuleRunner in the module).  Raises GitOpsError with an actionable,
    credential-free message.  With `sets_file`, the sets of that declaration instead (_fetch_sets)."""
    if params.get("sets_file"):
        return _fetch_sets(params, runner)
    remote_charts.check_module_entries(params)
    root = checkout.fetch(params, runner, lambda dest, decryption, _commit: _load(runner, dest, params, decryption))
    loaded, files, left_out, charts = root.loaded
    objects = [item.obj for item in loaded]
    return dict(
        _commit_result(root, root.previous != root.commit),
        objects=objects,
        object_count=len(objects),
        sources=_sources(loaded),
        files=files,
        helm_hooks_left_out=left_out,
        charts=charts,
        digest=manifests.digest([sanitize.mask_secret(obj) for obj in objects]),
        source=_source(root, params.get("path") or ["."], charts),
    )


def _source(repo, path, charts):
    """Where a set's objects come from: the repository, paths, commit (its subject and date), and each
    fetched chart's reference and digest - k8s_reconcile records it in the set's status, where a moved
    tag shows as a changed digest."""
    out = {"repo": repo.url.display, "path": path, "commit": repo.commit, "subject": repo.info.get("subject"),
           "commit_date": repo.info.get("commit_date")}
    if charts:
        out["charts"] = ["%s/%s@%s %s" % (c["repository"].rstrip("/"), c["chart"], c["version"], c["digest"])
                         for c in charts]
    return out


# ---------------------------------------------------------------- a sets declaration (option sets_file)
# The named key sets and credentials of the play (options trusted_keys, credentials): their fields.
_NAMED = {"trusted_keys": {"gpg_keys": list, "allowed_signers": str, "cosign_keys": list},
          "credentials": {"username": str, "password": str, "key_file": str, "known_hosts": str, "token": str,
                          "ca_file": str}}
# The play's helm settings that describe the cluster or the machine, not a chart: every set's charts use them
# unless the set's own helm gives them.
_HELM_FROM_PLAY = ("kube_version", "api_versions", "binary", "cache_dir")


def _named(params, option):
    """The entries of trusted_keys or credentials, checked by shape (a message names the entry and
    field, never a value)."""
    given = params.get(option) or {}
    if not isinstance(given, dict):
        raise GitOpsError("%s must be a mapping of names to entries" % option)
    for name, entry in given.items():
        if not isinstance(entry, dict):
            raise GitOpsError("%s.%s must be a mapping" % (option, name))
        for key, value in entry.items():
            kind = _NAMED[option].get(key)
            if kind is None:
                raise GitOpsError("%s.%s: unknown field %s (known: %s)" % (option, name, key, ", ".join(_NAMED[option])))
            if value is not None and not isinstance(value, kind):
                raise GitOpsError("%s.%s.%s must be a %s" % (option, name, key, "list" if kind is list else "string"))
    return given


def _set_params(params, declared):
    """The options of `_load` for one declared set: its own rendering, the play's limits and the play's
    Helm capabilities (kube_version, api_versions, binary) where the set's helm gives none."""
    chart = dict(declared.helm)
    for key in _HELM_FROM_PLAY:
        if chart.get(key) is None and (params.get("helm") or {}).get(key):
            chart[key] = params["helm"][key]
    return dict(path=declared.path, render=declared.render, helm=chart, template_vars=declared.template_vars,
                recursive=declared.recursive, include=declared.include, exclude=declared.exclude,
                max_file_bytes=params.get("max_file_bytes"), max_objects=params.get("max_objects"),
                trusted_keys=params.get("trusted_keys") or {}, credentials=params.get("credentials") or {})


class _SetError(GitOpsError):
    """An error loading one declared set, its name (and repository) already in the message."""


def _load_set(runner, dest, declared, params, decryption, repo_display=None):
    try:
        return _load(runner, dest, _set_params(params, declared), decryption)
    except GitOpsError as exc:
        where = " (repository %s)" % repo_display if repo_display else ""
        note = ("; the play's decryption keys are given to the sets of the root repository only"
                if repo_display and yamlsafe.NOT_DECRYPTED in exc.message else "")
        raise _SetError("set '%s'%s: %s%s" % (declared.name, where, exc.message, note), **exc.details)


def _check_disjoint(declaration, loaded):
    """An object declared by two sets would be fought over by both: refused, naming both.  An object
    without a namespace is taken to be in its set's (a cluster-scoped one in two sets with different
    namespaces is left to the cluster side's ownership check)."""
    first = {}
    for declared in declaration.sets:
        for item in loaded[declared.name][0]:
            ref = ObjectRef.from_object(item.obj, declared.namespace)
            other = first.setdefault(ref.key, (declared.name, item))
            if other[0] != declared.name:
                raise GitOpsError("%s is declared by two sets: '%s' (%s document %d) and '%s' (%s document %d)"
                                  % (ref, other[0], other[1].file, other[1].document, declared.name, item.file,
                                     item.document))


def _repo_params(params, repo, trusted, credentials):
    """fetch's options for a set's own repository: its version and rule, the named keys and
    credentials, the play's transport settings; no decryption, no dest (the default cache of its URL)."""
    keys = (trusted.get(repo.trust) or {}) if repo.trust else {}
    login = (credentials.get(repo.credentials) or {}) if repo.credentials else {}
    return dict(repo=repo.url, version=repo.version, verify=repo.verify, gpg_keys=keys.get("gpg_keys") or [],
                allowed_signers=keys.get("allowed_signers"), username=login.get("username"),
                password=login.get("password"), key_file=login.get("key_file"), known_hosts=login.get("known_hosts"),
                accept_hostkey=params.get("accept_hostkey", False), stall_timeout=params.get("stall_timeout"))


def _set_entry(declared, loaded, repo):
    """One entry of the result's `sets` (k8s_reconcile's and drift_check's option `sets`)."""
    items, _files, _left_out, charts = loaded
    objects = [item.obj for item in items]
    entry = dict(name=declared.name, depends_on=list(declared.depends_on), objects=objects, sources=_sources(items),
                 revision=repo.commit, source=_source(repo, list(declared.path), charts),
                 charts=charts,
                 digest=manifests.digest([sanitize.mask_secret(obj) for obj in objects]), object_count=len(objects))
    for key in ("namespace", "prune", "max_deletions", "wait", "wait_timeout", "ignore", "recreate", "adopt", "policy",
                "service_account", "impersonate_user", "impersonate_groups", "inventory_namespace"):
        entry[key] = getattr(declared, key)
    entry["signature"] = repo.signature
    return entry


def _fetch_sets(params, runner):
    """The sets of the declaration `sets_file` at the commit of `repo`: each root-repository set loaded
    from that checkout (with the play's decryption), each other repository fetched and verified once for
    all its sets, in turn (one cache lock held at a time)."""
    trusted, credentials = _named(params, "trusted_keys"), _named(params, "credentials")
    rel = params["sets_file"]

    def load_root(dest, decryption, commit):
        real = manifests.inside(dest, rel)
        if not os.path.isfile(real):
            raise GitOpsError("sets_file %s is not a file of the repository at commit %s" % (rel, commit[:12]))
        declaration = sets.load(dest, rel, trusted, credentials, params.get("max_file_bytes") or manifests.MAX_FILE_BYTES)
        return declaration, dict((s.name, _load_set(runner, dest, s, params, decryption))
                                 for s in declaration.sets if s.repo is None)

    root = checkout.fetch(params, runner, load_root)
    declaration, loaded = root.loaded
    fetched = dict((s.name, root) for s in declaration.sets if s.repo is None)
    changed = root.previous != root.commit
    repos = []
    for declared in declaration.sets:
        if declared.repo is not None and declared.repo not in repos:
            repos.append(declared.repo)
    for repo in repos:  # each repository (url, version, rule, keys, credentials) fetched once for its sets
        group = [s for s in declaration.sets if s.repo == repo]
        names = ", ".join("'%s'" % s.name for s in group)
        display = gitsource.RepoUrl(repo.url).display

        def load_other(dest, decryption, _commit, group=group, display=display):
            return dict((s.name, _load_set(runner, dest, s, params, decryption, display)) for s in group)
        try:
            other = checkout.fetch(_repo_params(params, repo, trusted, credentials), runner, load_other)
        except _SetError:
            raise
        except GitOpsError as exc:
            which = "set%s %s" % ("s" if len(group) > 1 else "", names)
            raise GitOpsError("%s (repository %s): %s" % (which, display, exc.message), **exc.details)
        loaded.update(other.loaded)
        fetched.update((s.name, other) for s in group)
        changed = changed or other.previous != other.commit
    _check_disjoint(declaration, loaded)
    entries = [_set_entry(s, loaded[s.name], fetched[s.name]) for s in declaration.sets]
    left_out = [dict(hook, set=s.name) for s in declaration.sets for hook in loaded[s.name][2]]
    summary = dict(name=declaration.name, file=declaration.file, prune=declaration.prune,
                   max_deletions=declaration.max_deletions, sets=[s.name for s in declaration.sets])
    return dict(
        _commit_result(root, changed),
        objects=[],
        object_count=sum(e["object_count"] for e in entries),
        sources=[],
        files=[rel] + [f for s in declaration.sets if s.repo is None for f in loaded[s.name][1]],
        helm_hooks_left_out=left_out,
        digest=manifests.digest([summary] + [dict((k, v) for k, v in e.items() if k not in ("objects", "sources"))
                                             for e in entries]),
        source={"repo": root.url.display, "path": [rel], "commit": root.commit},
        declaration=summary,
        sets=entries,
    )
