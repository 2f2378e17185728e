# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""repo@version -> one commit and its Kubernetes objects: the DesiredState of DESIGN.md.

Order of one run: lock the cache, resolve the ref on the remote, fetch only when the cached ref
differs, verify signatures as the policy asks, check the commit out, then render and load the
objects.  Everything happens under the cache lock, so a concurrent run cannot move the checkout
while it is being read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, sanitize, yamlsafe
from ansible_collections.gitops.core.plugins.module_utils.source import gitsource, helm, manifests, render, signatures
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import encrypted, sops, vault
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


def _check_policy(params, version):
    mode = params.get("verify") or "none"
    if mode not in signatures.VERIFY_MODES:
        raise GitOpsError("verify must be one of %s" % ", ".join(signatures.VERIFY_MODES))
    if mode != "none" and not (params.get("gpg_keys") or params.get("allowed_signers")):
        raise GitOpsError("verify=%s needs trusted keys: gpg_keys and/or allowed_signers" % mode)
    if mode == "tag" and not version:
        raise GitOpsError("verify=tag needs version to name an annotated tag")
    if mode == "all" and params.get("depth"):
        raise GitOpsError("verify=all checks the full history and cannot be combined with depth")
    since = params.get("verify_since")
    if since is not None:
        gitsource.check_version(since)
        if mode != "all":
            raise GitOpsError("verify_since is only used with verify=all")
    return mode


def _known_hosts_file(value, tmpdir):
    """known_hosts given as file content is written to a temporary file."""
    if not value:
        return None
    if "\n" not in value.strip() and os.path.isfile(os.path.expanduser(value)):
        return os.path.expanduser(value)
    path = os.path.join(tmpdir, "known_hosts")
    with open(path, "w") as fh:
        fh.write(value.rstrip("\n") + "\n")
    return path


def _local_ref_sha(git, ref):
    if not ref:
        return None
    return git.run("rev-parse", "-q", "--verify", gitsource.local_ref(ref), ok_codes=(0, 1, 128)).strip() or None


def _verify(git, mode, ref, version, commit, params, state):
    short = commit[:12]
    if mode == "none":
        return dict(signatures.UNVERIFIED)
    if mode == "head":
        return signatures.verify(git, "commit", commit, "commit %s" % short)
    if mode == "tag":
        if not ref or not ref.startswith("refs/tags/"):
            raise GitOpsError("verify=tag: version '%s' is not a tag" % version)
        if git.run("cat-file", "-t", ref).strip() != "tag":
            raise GitOpsError("verify=tag: tag '%s' is a lightweight tag; only an annotated, signed tag "
                              "can be verified" % version)
        return signatures.verify(git, "tag", ref, "tag %s" % version)
    # all: every commit from verify_since (default: the last commit this cache verified) up to the target
    since = params.get("verify_since") or state.get("verified", {}).get(ref or version)
    revs = commit
    if since:
        since_sha = git.run("rev-parse", "-q", "--verify", "%s^{commit}" % since, ok_codes=(0, 1, 128)).strip()
        if not since_sha:
            raise GitOpsError("verify_since '%s' is not a commit of this repository" % since)
        code, _out, _err = git.call(["merge-base", "--is-ancestor", since_sha, commit])
        if code != 0:
            raise GitOpsError("verify_since %s is not an ancestor of %s (history rewritten?); "
                              "set verify_since to a trusted commit" % (since_sha[:12], short))
        revs = "%s..%s" % (since_sha, commit)
    for sha in git.run("rev-list", revs).split():
        signatures.verify(git, "commit", sha, "commit %s (verify=all, checking %s)" % (sha[:12], revs))
    return signatures.verify(git, "commit", commit, "commit %s" % short)


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


def _load(runner, dest, params, decryption):
    paths = params.get("path") or ["."]
    sources = manifests.collect_sources(dest, paths, recursive=params.get("recursive", True),
                                        include=params.get("include"), exclude=params.get("exclude") or (),
                                        render=params.get("render") or "auto")
    max_bytes = params.get("max_file_bytes") or manifests.MAX_FILE_BYTES
    max_objects = params.get("max_objects") or manifests.MAX_OBJECTS
    helm_params = params.get("helm") or {}
    helm.check_chart_entries(helm_params, [s.path for s in sources if s.renderer == "helm"])
    loaded = []
    files = []
    left_out = []
    for src in sources:
        if src.renderer == "helm":
            objects, hooks = helm.render_chart(runner, dest, src.path, helm_params, max_bytes, decryption)
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
    manifests.check_unique(loaded)
    return loaded, files, left_out


def fetch_desired_state(params, runner):
    """Run one fetch-verify-load; return the module result.  `runner` runs git, gpg, kustomize
    and helm (runner.ModuleRunner in the module).  Raises GitOpsError with an actionable,
    credential-free message."""
    url = gitsource.RepoUrl(params["repo"], params.get("username"), params.get("password"))
    version = gitsource.check_version(params.get("version"))
    mode = _check_policy(params, version)
    dest = os.path.abspath(os.path.expanduser(params.get("dest") or gitsource.default_dest(url)))
    tmpdir = tempfile.mkdtemp(prefix="gitops-core-run-")
    try:
        known_hosts = _known_hosts_file(params.get("known_hosts"), tmpdir)
        with gitsource.CacheLock(dest):
            with signatures.Keyring(runner, params.get("gpg_keys"), params.get("allowed_signers")) as keyring:
                git = gitsource.Git(runner, dest, url, key_file=params.get("key_file"), known_hosts=known_hosts,
                                    accept_hostkey=params.get("accept_hostkey", False),
                                    cache_root=os.path.dirname(dest), extra_env=keyring.env(),
                                    extra_config=keyring.git_config(),
                                    stall_timeout=params.get("stall_timeout") or gitsource.STALL_TIMEOUT)
                state = gitsource.prepare_cache(git, dest)
                previous = gitsource.head(git)
                ref, remote_sha = gitsource.resolve(gitsource.remote_refs(git), version)
                state["in_progress"] = True
                gitsource.write_state(dest, state)
                if ref and remote_sha and _local_ref_sha(git, ref) == remote_sha:
                    commit = git.run("rev-parse", "--verify", "%s^{commit}" % remote_sha).strip()
                else:
                    commit = gitsource.fetch(git, ref, version, params.get("depth"))
                signature = _verify(git, mode, ref, version, commit, params, state)
                gitsource.checkout(git, commit)  # always: it also discards local edits in the cache
                info = gitsource.commit_info(git, commit)
                with sops.Decryption(runner, params.get("decryption")) as decryption:  # after verification
                    loaded, files, left_out = _load(runner, dest, params, decryption)
                if mode in ("head", "all"):
                    state.setdefault("verified", {})[ref or version] = commit
                state["in_progress"] = False
                gitsource.write_state(dest, state)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    objects = [item.obj for item in loaded]
    paths = params.get("path") or ["."]
    return dict(
        changed=previous != commit,
        commit=commit,
        short_commit=commit[:12],
        previous_commit=previous,
        ref=ref or commit,
        commit_date=info["commit_date"],
        author=info["author"],
        subject=info["subject"],
        signature=signature,
        objects=objects,
        object_count=len(objects),
        sources=[{"ref": str(item.ref), "file": item.file, "document": item.document} for item in loaded],
        files=files,
        helm_hooks_left_out=left_out,
        digest=manifests.digest([sanitize.mask_secret(obj) for obj in objects]),
        cache_dir=dest,
        source={"repo": url.display, "path": paths, "commit": commit},
    )
