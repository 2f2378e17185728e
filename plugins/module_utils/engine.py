# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change-set engine: one object per run holding the client, the typed options and one
worker pool, with the verbs plan, dry_run, apply, delete and wait.  Each verb lives in a file of
its own (plan.py, apply.py, delete.py, wait.py); k8s_reconcile (reconcile.py) and drift_check
(drift.py) are short orchestrations over these verbs, and healing is the reconcile path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Optional

from ansible_collections.gitops.core.plugins.module_utils import apply as apply_verb
from ansible_collections.gitops.core.plugins.module_utils import delete as delete_verb
from ansible_collections.gitops.core.plugins.module_utils import lease
from ansible_collections.gitops.core.plugins.module_utils import plan as plan_verb
from ansible_collections.gitops.core.plugins.module_utils import wait as wait_verb


@dataclass(frozen=True)
class Options:
    """What a run may do.  Built from module params by from_params(); the names are the modules' option names."""
    set_name: str
    namespace: str = "default"
    inventory_namespace: str = "gitops-system"
    field_manager: str = "gitops-core"
    revision: Optional[str] = None
    force_conflicts: bool = True
    prune: bool = True
    prune_propagation: str = "Background"
    allow_empty: bool = False
    max_deletions: Optional[int] = None
    adopt: bool = False
    parallelism: int = 8
    check_mode: bool = False
    keep_results: bool = False  # keep each dry-run/apply response (diff mode shows them); else dropped once used
    lock: bool = True
    lock_timeout: int = 300
    lock_duration: int = 60

    @classmethod
    def from_params(cls, params, **overrides):
        """Options from a module's params (unknown keys ignored, None means the default)."""
        values = {f.name: params[f.name] for f in fields(cls) if params.get(f.name) is not None}
        values.update(overrides)
        return cls(**values)


class Engine(object):
    """One run's engine.  Use as a context manager so that the pool and connections are closed."""

    def __init__(self, client, options):
        self.client = client
        self.opts = options
        self._pool = ThreadPoolExecutor(max_workers=options.parallelism, thread_name_prefix="gitops-core")
        self.lock = lease.NoLock()

    def take_lock(self):
        """Take the set's Lease (lease.py) before the plan is read; released by close().  Check mode
        and `lock: false` take none."""
        opts = self.opts
        if opts.lock and not opts.check_mode:
            self.lock = lease.SetLock(self.client, opts.inventory_namespace, opts.set_name, opts.lock_duration,
                                      opts.lock_timeout, opts.field_manager).acquire()
        return self.lock

    def map(self, fn, items):
        """[fn(item) for item in items], run on the engine's one pool (and its kept-alive connections)."""
        items = list(items)
        if len(items) <= 1:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def close(self):
        self._pool.shutdown(wait=True)
        self.lock.release()
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ the verbs

    def plan(self, objects, sources=None):
        """The ChangeSet: every desired object and every object that left the set, with its action."""
        return plan_verb.build(self, objects, sources)

    def dry_run(self, entries, confirm_only=False):
        """Server-side dry-run of every entry (all or nothing); updates that would change nothing become unchanged."""
        apply_verb.dry_run(self, entries, confirm_only)

    def apply(self, entries, before_first_write=None):
        """Dry-run then apply `entries` phase by phase (waves, then kind order); `before_first_write`
        runs after the dry-run passed, before the first write."""
        apply_verb.write(self, entries, before_first_write)

    def check_guards(self, changeset):
        """Refuse, before any write, a run whose deletions a guard forbids."""
        delete_verb.check_guards(self, changeset)

    def delete(self, changeset):
        """Prune the entries planned for pruning, through every guard; returns the entries deleted."""
        return delete_verb.prune(self, changeset)

    def wait(self, entries, timeout):
        """Wait until every entry is healthy; fail at once when one has failed."""
        return wait_verb.wait(self, entries, timeout)
