# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A GnuPG home made for one run: the only keys gpg sees are the ones imported into it, never the
machine's ~/.gnupg.  Signature verification (trusted public keys) and SOPS (PGP secret keys) both
use it, so they get the same care:

- private: a new folder, mode 0700;
- short: gpg-agent puts its Unix sockets in the home, and a socket path may not pass 108 bytes, so
  the home goes under /tmp when TMPDIR is long (pytest's, a CI runner's);
- removed at the end, on failure and on SIGTERM (which unwinds the `with` block), with the agent
  gpg starts for it stopped first, so no process outlives the folder."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

PREFIX = "gitops-core-gpg-"
# The longest home whose sockets (S.gpg-agent.browser, 19 characters, after a slash) stay within the
# 107 bytes a Unix socket path may hold, with room to spare.
MAX_HOME = 80
SHORT_BASE = "/tmp"


def base_dir():
    """Where a home is made: the temporary folder (TMPDIR) when a home there is short enough, else /tmp."""
    base = tempfile.gettempdir()
    if len(os.path.join(base, PREFIX + "x" * 8)) > MAX_HOME:
        return SHORT_BASE
    return base


class GnupgHome(object):
    """A private GnuPG home for the life of a `with` block.  `runner` runs gpg and gpgconf
    (runner.ModuleRunner's signature); `env()` is what any program that calls gpg needs."""

    def __init__(self, runner):
        self.runner = runner
        self.path = None
        self._old_term = None

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix=PREFIX, dir=base_dir())
        os.chmod(self.path, 0o700)
        try:
            self._old_term = signal.signal(signal.SIGTERM, _on_term)
        except ValueError:
            self._old_term = None  # not the main thread: nothing to install
        return self

    def __exit__(self, *exc):
        if not self.path:
            return
        self._stop_agent()
        shutil.rmtree(self.path, ignore_errors=True)
        self.path = None
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None

    def env(self):
        return {"GNUPGHOME": self.path}

    def _stop_agent(self):
        """gpg starts gpg-agent for a home on its first use (an import, a decryption) and leaves it
        running; nothing tells whether a program given env() did, so the agent is always told to stop."""
        if self.runner is None:
            return  # nothing could run gpg in this home
        try:
            self.runner(["gpgconf", "--homedir", self.path, "--kill", "all"], env=self.env(), timeout=30)
        except GitOpsError:
            pass  # no gpgconf: the agent ends by itself once its home is gone

    def import_key(self, armored, label, secret=False):
        """Import one armored key (public, or `secret`); raise naming `label` (the option's entry,
        "gpg_keys[0]") when gnupg is missing or takes nothing from it."""
        try:
            code, _out, err = self.runner(["gpg", "--batch", "--no-tty", "--import"], env=self.env(),
                                          data=armored.encode("utf-8"), timeout=60)
        except GitOpsError as exc:
            raise GitOpsError("%s needs gnupg: %s" % (label, exc.message))
        wanted = (b"secret key imported", b"secret keys read") if secret else (b"imported", b"unchanged")
        if code != 0 or not any(word in err for word in wanted):
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise GitOpsError("%s is not an OpenPGP %s key gpg can import: %s"
                              % (label, "secret" if secret else "public", lines[-1] if lines else "exit %d" % code))


def _on_term(signum, frame):
    raise SystemExit("terminated (SIGTERM)")  # unwinds through __exit__, which removes the home
