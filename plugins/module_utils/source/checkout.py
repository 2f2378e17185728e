# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One repository at one ref, fetched into its cache, verified and checked out (source/desired_state.py
then loads it).

Order: lock the cache, resolve the ref on the remote, fetch only when the cached ref differs, verify
signatures as the policy asks, check the commit out, then call the caller's load.  Everything happens
under the cache lock, so a concurrent run cannot move the checkout while it is being read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.source import gitsource, signatures
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import sops
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


def check_policy(params, version):
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


# One repository fetched, verified and checked out; `loaded` is what the caller's load gave.
Fetched = namedtuple("Fetched", "url dest commit previous ref info signature loaded")


def fetch(params, runner, load):
    """Lock the cache of params["repo"], resolve the ref, fetch when needed, verify, check the commit
    out and, still under the lock, return Fetched with `loaded` = load(dest, decryption, commit): the
    keys of params["decryption"] (sops.Decryption, off without them) open only after verification."""
    url = gitsource.RepoUrl(params["repo"], params.get("username"), params.get("password"))
    version = gitsource.check_version(params.get("version"))
    mode = check_policy(params, version)
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
                    loaded = load(dest, decryption, commit)
                if mode in ("head", "all"):
                    state.setdefault("verified", {})[ref or version] = commit
                state["in_progress"] = False
                gitsource.write_state(dest, state)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return Fetched(url, dest, commit, previous, ref, info, signature, loaded)
