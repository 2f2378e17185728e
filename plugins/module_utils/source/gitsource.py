# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch one ref of a Git repository into a per-URL cache and check it out, with the git CLI.

Safety rules kept here:
- the URL is checked (no `ext::`/`fd::` transports, no leading `-`), and git may only use the
  https, http, ssh, git and file protocols (GIT_ALLOW_PROTOCOL);
- credentials never reach a command line, `.git/config`, the remote URL or a message: the repo
  is fetched by URL without a configured remote, a password is handed to git by a credential
  helper that reads it from the child's environment, and every message is scrubbed;
- user and system git config are ignored, so no hook, helper or alias of the machine runs;
- the cache is locked per URL; a cache an interrupted run left broken is rebuilt, and a folder
  that is not a gitops.core cache is never overwritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import time

from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

CACHE_MARKER = "gitops-core-cache.json"
DEFAULT_CACHE = os.path.join("~", ".cache", "gitops.core", "repos")
ALLOWED_SCHEMES = ("https", "http", "ssh", "git", "file")
LOCK_TIMEOUT = 600
GIT_TIMEOUT = 900
STALL_TIMEOUT = 60  # seconds a transfer may stay under 1 kB/s (or an ssh server silent) before git gives up
_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)")
_CREDENTIAL_HELPER = ('!f() { test "$1" = get || exit 0; '
                      'printf "username=%s\\npassword=%s\\n" "$GITOPS_CORE_GIT_USERNAME" "$GITOPS_CORE_GIT_PASSWORD"; }; f')


class RepoUrl(object):
    """A repository location with any credentials split off: `display` is safe to show."""

    def __init__(self, url, username=None, password=None):
        if not isinstance(url, str) or not url.strip():
            raise GitOpsError("repo must be a non-empty string")
        if any(c in url for c in "\n\r\0"):
            raise GitOpsError("repo contains a control character")
        if url.startswith("-"):
            raise GitOpsError("repo must not start with '-' (it would be read as a git option)")
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", url):
            raise GitOpsError("repo uses a transport helper ('%s::'), which is refused" % url.split("::")[0])
        self.username = username
        self.password = password
        self.kind = "path"
        parts = urlsplit(url)
        if "://" in url:
            if parts.scheme.lower() not in ALLOWED_SCHEMES:
                raise GitOpsError("repo scheme '%s' is not allowed (use one of %s)"
                                  % (parts.scheme, ", ".join(ALLOWED_SCHEMES)))
            self.kind = parts.scheme.lower()
            if parts.username or parts.password:
                if self.kind in ("https", "http"):
                    self.username = self.username or unquote(parts.username or "")
                    self.password = self.password or (unquote(parts.password) if parts.password else None)
                host = parts.hostname or ""
                if parts.port:
                    host += ":%d" % parts.port
                if self.kind in ("https", "http"):
                    parts = parts._replace(netloc=host)
                else:  # ssh://user@host: the user is not a secret, a password is
                    if parts.password:
                        raise GitOpsError("repo must not carry a password in an %s URL; use key_file" % self.kind)
            self.url = urlunsplit(parts)
        elif _SCP_LIKE.match(url) and not os.path.exists(url):
            self.kind = "ssh"
            self.url = url
        else:
            self.url = os.path.abspath(os.path.expanduser(url))
        self.display = self.url

    @property
    def cache_key(self):
        return hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:24]

    def secrets(self):
        return [s for s in (self.password,) if s]


def scrub(text, secrets):
    """Remove every secret, also URL-encoded, from `text`."""
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, quote(secret, safe=""), quote(secret)):
            text = text.replace(form, "********")
    return text


def check_version(version):
    """Refuse a ref name that could be read as an option or is not a valid ref name."""
    if version is None:
        return None
    if not isinstance(version, str) or not version:
        raise GitOpsError("version must be a non-empty string")
    if version.startswith("-"):
        raise GitOpsError("version '%s' must not start with '-' (it would be read as a git option)" % version)
    bad = (".." in version or "@{" in version or "//" in version or version.endswith((".", "/", ".lock"))
           or re.search(r"[\x00-\x20~^:?*\[\\\x7f]", version) is not None)
    if bad:
        raise GitOpsError("version '%s' is not a valid branch, tag or commit name" % version)
    return version


class Git(object):
    """git in one working directory with a locked-down environment."""

    def __init__(self, runner, cwd, url, key_file=None, known_hosts=None, accept_hostkey=False, cache_root=None,
                 extra_env=None, extra_config=(), stall_timeout=STALL_TIMEOUT):
        self.runner = runner
        self.cwd = cwd
        self.url = url
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ALLOW_PROTOCOL": ":".join(ALLOWED_SCHEMES),
            "GIT_PROTOCOL_FROM_USER": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "LC_ALL": "C",
        }
        # ssh and http stop a stalled transfer themselves; the runner's timeout is the last resort
        stall = max(1, int(stall_timeout))
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % stall,
               "-o", "ServerAliveInterval=%d" % max(1, stall // 4), "-o", "ServerAliveCountMax=4"]
        if key_file:
            ssh += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
        if known_hosts:
            ssh += ["-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "StrictHostKeyChecking=yes"]
        elif accept_hostkey:
            ssh += ["-o", "UserKnownHostsFile=%s" % os.path.join(cache_root or cwd, "known_hosts"),
                    "-o", "StrictHostKeyChecking=accept-new"]
        else:
            ssh += ["-o", "StrictHostKeyChecking=yes"]
        env["GIT_SSH_COMMAND"] = " ".join(shlex.quote(a) for a in ssh)
        config = ["-c", "core.hooksPath=%s" % os.devnull, "-c", "core.fsmonitor=false",
                  "-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=%d" % stall,
                  "-c", "protocol.file.allow=always", "-c", "advice.detachedHead=false",
                  "-c", "gc.auto=0", "-c", "credential.helper="]
        if url.password is not None or url.username:
            env["GITOPS_CORE_GIT_USERNAME"] = url.username or "git"
            env["GITOPS_CORE_GIT_PASSWORD"] = url.password or ""
            config += ["-c", "credential.helper=%s" % _CREDENTIAL_HELPER]
        for item in extra_config:
            config += ["-c", item]
        env.update(extra_env or {})
        self.env = env
        self.config = config

    def call(self, args, timeout=GIT_TIMEOUT, what=None):
        """Run git; return (exit code, stdout, stderr), both texts scrubbed of secrets."""
        try:
            code, out, err = self.runner(["git"] + self.config + list(args), cwd=self.cwd, env=self.env,
                                         timeout=timeout)
        except GitOpsError as exc:
            raise GitOpsError("%s (%s on %s)" % (exc.message, what or "git %s" % args[0], self.url.display))
        secrets = self.url.secrets()
        return (code, scrub(out.decode("utf-8", "replace"), secrets),
                scrub(err.decode("utf-8", "replace"), secrets))

    def run(self, *args, **kw):
        """Run git and return its stdout; raise GitOpsError unless the exit code is in `ok_codes`."""
        ok_codes = kw.pop("ok_codes", (0,))
        what = kw.pop("what", "git %s" % args[0])
        code, out, err = self.call(args, what=what, **kw)
        if code not in ok_codes:
            raise GitOpsError("%s failed for %s: %s" % (what, self.url.display, explain(err)), rc=code)
        return out


def explain(stderr):
    """git's own message, with a hint for the usual causes."""
    text = stderr.strip()
    lowered = text.lower()
    hints = [
        (("authentication failed", "could not read username", "could not read password", "permission denied",
          "terminal prompts disabled", "invalid username or password", "returned error: 403"),
         "authentication failed (check username/password or key_file)"),
        (("host key verification failed", "no ed25519 host key is known", "no rsa host key is known"),
         "the server's host key is not trusted (set known_hosts, or accept_hostkey: true)"),
        (("operation too slow", "operation timed out", "timeout, server", "timed out after"),
         "the transfer stalled: no progress within stall_timeout seconds"),
        (("could not resolve host", "connection refused", "connection timed out", "does not appear to be a git repository",
          "repository not found", "not found", "unable to access", "no such file or directory"),
         "the repository is unreachable or does not exist"),
    ]
    for needles, hint in hints:
        if any(n in lowered for n in needles):
            return "%s: %s" % (hint, text[-1500:])
    return text[-1500:] or "no message from git"


class CacheLock(object):
    """An exclusive lock on one cache folder (a sibling `.lock` file), waited for up to `timeout`."""

    def __init__(self, dest, timeout=LOCK_TIMEOUT):
        self.path = dest.rstrip(os.sep) + ".lock"
        self.timeout = timeout
        self.fh = None

    def __enter__(self):
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700)
        self.fh = open(self.path, "a+")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    self.fh.close()
                    raise GitOpsError("the cache %s is locked by another run for more than %ds"
                                      % (os.path.dirname(self.path), self.timeout))
                time.sleep(0.1)

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def prepare_cache(git, dest):
    """Make `dest` a usable gitops.core cache repo and return its state.  A new cache is
    created; after an interrupted run (state `in_progress`), stale git lock files are removed and
    the repository is checked, and rebuilt from the remote when broken.  A non-empty folder that
    is not one of our caches is refused, never wiped."""
    marker = os.path.join(dest, ".git", CACHE_MARKER)
    if os.path.exists(dest) and not os.path.exists(marker) and os.listdir(dest):
        raise GitOpsError("dest %s exists and is not a gitops.core cache; refusing to overwrite it" % dest)
    state = read_state(dest) if os.path.exists(marker) else None
    if state is not None and state.get("in_progress"):
        for dirpath, _dirs, files in os.walk(os.path.join(dest, ".git")):
            for name in files:
                if name.endswith(".lock"):  # we hold the cache lock: no git of ours is running
                    os.unlink(os.path.join(dirpath, name))
        try:
            git.run("fsck", "--connectivity-only", "--no-dangling", "--no-progress", what="git fsck")
        except GitOpsError:
            shutil.rmtree(dest)  # broken by the interrupted run: rebuild it from the remote
            state = None
    if state is None:
        if not os.path.isdir(dest):
            os.makedirs(dest, 0o700)
        git.run("init", "-q", what="git init")
        state = {"url": git.url.display}
        write_state(dest, state)
    return state


def read_state(dest):
    try:
        with open(os.path.join(dest, ".git", CACHE_MARKER)) as fh:
            return json.load(fh)
    except (IOError, OSError, ValueError):
        return {}


def write_state(dest, state):
    path = os.path.join(dest, ".git", CACHE_MARKER)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
    os.rename(tmp, path)


def remote_refs(git):
    """{ref name: sha} of the remote, plus 'HEAD' and, when known, the symref 'HEAD->' target."""
    out = git.run("ls-remote", "--symref", "--", git.url.url, what="git ls-remote")
    refs = {}
    for line in out.splitlines():
        if line.startswith("ref: "):
            target, _tab, name = line[5:].partition("\t")
            if name == "HEAD":
                refs["HEAD->"] = target
            continue
        sha, _tab, name = line.partition("\t")
        if sha and name:
            refs[name] = sha
    return refs


def resolve(refs, version):
    """(full ref name or None, sha or None) for `version`: a branch, a tag or a commit."""
    if version is None:
        target = refs.get("HEAD->")
        if target:
            return target, refs.get(target)
        if "HEAD" in refs:
            return None, refs["HEAD"]
        raise GitOpsError("the remote has no default branch (HEAD); set version")
    if version.startswith(("refs/heads/", "refs/tags/")):
        if version not in refs:
            raise GitOpsError("unknown ref '%s'" % version)
        return version, refs[version]
    branch, tag = "refs/heads/" + version, "refs/tags/" + version
    if branch in refs and tag in refs:
        raise GitOpsError("version '%s' names both a branch and a tag; use refs/heads/%s or refs/tags/%s"
                          % (version, version, version))
    for name in (branch, tag):
        if name in refs:
            return name, refs[name]
    if _HEX.match(version):
        return None, None  # a commit: fetched by SHA below
    raise GitOpsError("unknown ref '%s': no branch or tag of that name" % version)


def local_ref(ref):
    """Where the cache keeps a fetched remote ref: tags as themselves (their tag objects are needed
    for verify-tag), branches under refs/gitops/."""
    return ref if ref.startswith("refs/tags/") else "refs/gitops/" + ref[len("refs/"):]


def fetch(git, ref, version, depth=None):
    """Fetch what `ref`/`version` names into the cache; return the commit SHA."""
    depth_args = ["--depth", str(int(depth))] if depth else []
    if ref:
        local = local_ref(ref)
        git.run("fetch", "--no-tags", "--force", "-q", *depth_args, "--", git.url.url,
                "+%s:%s" % (ref, local), what="git fetch")
        return git.run("rev-parse", "--verify", "%s^{commit}" % local, what="git rev-parse").strip()
    # A commit SHA: try it directly (servers allowing it), else fetch every branch and tag.
    if len(version) == 40:
        try:
            git.run("fetch", "--no-tags", "-q", *depth_args, "--", git.url.url, version, what="git fetch")
        except GitOpsError:
            pass
    sha = git.run("rev-parse", "-q", "--verify", "%s^{commit}" % version, ok_codes=(0, 1, 128)).strip()
    if not sha:
        git.run("fetch", "--no-tags", "--force", "-q", *depth_args, "--", git.url.url,
                "+refs/heads/*:refs/gitops/heads/*", "+refs/tags/*:refs/tags/*", what="git fetch")
        sha = git.run("rev-parse", "-q", "--verify", "%s^{commit}" % version, ok_codes=(0, 1, 128)).strip()
    if not sha:
        raise GitOpsError("unknown ref '%s': no branch, tag or commit of that name%s"
                          % (version, " within depth %d" % depth if depth else ""))
    return sha


def checkout(git, commit):
    """Point the work tree at `commit` exactly: local edits and untracked files are discarded."""
    git.run("checkout", "-q", "--force", "--detach", commit, what="git checkout")
    git.run("clean", "-q", "-ffdx", what="git clean")


def head(git):
    return git.run("rev-parse", "-q", "--verify", "HEAD", ok_codes=(0, 1, 128)).strip() or None


def commit_info(git, commit):
    out = git.run("show", "-s", "--format=%H%x00%cI%x00%an <%ae>%x00%s", commit, what="git show")
    sha, date, author, subject = out.rstrip("\n").split("\x00", 3)
    return {"commit": sha, "commit_date": date, "author": author, "subject": subject}


def default_dest(url, cache_root=None):
    root = os.path.expanduser(cache_root or DEFAULT_CACHE)
    return os.path.join(root, url.cache_key)
