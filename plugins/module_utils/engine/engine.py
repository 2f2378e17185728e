# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change-set engine: one object per run holding the client, its discovery, the typed
options and one worker pool, with the verbs plan, dry_run, apply, delete and wait.  Each verb
lives in a file of its own (plan.py, apply.py, delete.py, wait.py); converge.py closes a plan
with writes, and k8s_reconcile (reconcile.py) and drift_check (drift.py) are short
orchestrations over them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Optional, Tuple

from ansible_collections.gitops.core.plugins.module_utils.engine import apply as apply_verb
from ansible_collections.gitops.core.plugins.module_utils.engine import delete as delete_verb
from ansible_collections.gitops.core.plugins.module_utils.engine import hooks as hooks_verb
from ansible_collections.gitops.core.plugins.module_utils.engine import lease
from ansible_collections.gitops.core.plugins.module_utils.engine import plan as plan_verb
from ansible_collections.gitops.core.plugins.module_utils.engine import policy as policy_mod
from ansible_collections.gitops.core.plugins.module_utils.engine import wait as wait_verb
from ansible_collections.gitops.core.plugins.module_utils.cluster.discovery import Discovery
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import SET_NAME_PATTERN

SET_NAME = re.compile(SET_NAME_PATTERN)


@dataclass(frozen=True)
class Options:
    """What a run may do.  The first fields are the modules' options of the same name (doc
    fragment set_options); their defaults live in the argument spec only (set_args), so
    from_params() takes each from the params.  Each value is checked here, once."""
    set_name: str
    namespace: str
    inventory_namespace: str
    field_manager: str
    revision: Optional[str]
    force_conflicts: bool
    prune: bool
    prune_propagation: str
    allow_empty: bool
    max_deletions: Optional[int]
    adopt: bool
    parallelism: int
    lock: bool
    lock_timeout: int
    lock_duration: int
    lock_expired_version: Optional[str]
    recreate: bool
    takeover_managers: Tuple[str, ...]
    policy: Any  # policy.Policy, or None (the option's dict is parsed and checked here)
    # set by the module for the run, not options
    check_mode: bool = False
    keep_results: bool = False  # keep each dry-run/apply response (diff mode shows them); else dropped once used
    ignore: Any = None          # ignore.Rules: differences the plan does not count (drift_check)
    count_unowned: bool = True  # an object our field manager never applied is an update (False: only a diff is)

    def __post_init__(self):
        if not SET_NAME.match(self.set_name or ""):
            raise GitOpsError("set_name '%s' must be lower-case letters, digits and '-', at most 53 characters"
                              % self.set_name)
        if self.parallelism < 1:
            raise GitOpsError("parallelism must be at least 1")
        if self.max_deletions is not None and self.max_deletions < 0:
            raise GitOpsError("max_deletions must not be negative")
        if self.lock_duration < 3 or self.lock_timeout < 0:
            raise GitOpsError("lock_duration must be at least 3 seconds and lock_timeout not negative")
        object.__setattr__(self, "takeover_managers", tuple(self.takeover_managers or ()))
        if not isinstance(self.policy, policy_mod.Policy):
            object.__setattr__(self, "policy", policy_mod.parse(self.policy))

    @classmethod
    def from_params(cls, params, **run):
        """Options from a module's params; `run` gives the run's own fields and any option the
        module fixes (drift_check always forces conflicts)."""
        values = {}
        for f in fields(cls):
            if f.name in run:
                values[f.name] = run[f.name]
            elif f.name in params:
                values[f.name] = params[f.name]
        return cls(**values)


class Shared(object):
    """What the engines of one process's sets share (jobs/sets.py): the client and its connection
    pool, one discovery, and the grouped reads of a set's first plan (reads.SharedReads, or None).
    The client is closed by whoever made the Shared, not by each engine."""

    def __init__(self, client, reads=None, discovery=None):
        self.client = client
        self.discovery = discovery or Discovery(client)
        self.reads = reads


class Engine(object):
    """One run's engine.  Use as a context manager so that the pool and connections are closed
    (the client's only when the engine made its own Shared)."""

    def __init__(self, client, options, shared=None):
        self._own_client = shared is None
        shared = shared or Shared(client)
        self.client = client
        self.discovery = shared.discovery
        self.reads = shared.reads  # grouped reads (reads.py) for this plan, or None: the set reads alone
        self.opts = options
        self._pool = ThreadPoolExecutor(max_workers=options.parallelism, thread_name_prefix="gitops-core")
        self.lock = lease.NoLock()
        self.results = {}  # ObjectRef.key -> the dry-run or apply response, kept only with keep_results

    def take_lock(self):
        """Take the set's Lease (lease.py) before the plan is read; released by close().  Check mode
        and `lock: false` take none."""
        opts = self.opts
        if opts.lock and not opts.check_mode:
            self.lock = lease.SetLock(self.client, opts.inventory_namespace, opts.set_name, opts.lock_duration,
                                      opts.lock_timeout, opts.field_manager,
                                      expired_version=opts.lock_expired_version).acquire()
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
        if self._own_client:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ the verbs

    def plan(self, objects, sources=None):
        """The ChangeSet: every desired object and every object that left the set, with its action."""
        return plan_verb.build(self, objects, sources)

    def dry_run(self, entries):
        """drift_check's confirmation: server-side dry-run of every entry (all or nothing).  Returns
        {entry: its unchanged successor} for each update the server would not change."""
        return apply_verb.dry_run(self, entries, confirm=True)

    def validate(self, writes):
        """Server-side dry-run of every write that can be validated before the first write.  Returns
        {entry: successor}: updates that would change nothing, recreates for immutable fields."""
        return apply_verb.validate(self, writes)

    def apply(self, writes):
        """Apply `writes` phase by phase (waves, then kind order).  Returns {entry: successor}."""
        return apply_verb.write(self, writes)

    def run_hooks(self, changeset, stage, timeout):
        """Run the Helm hooks of `stage` that run on this sync, in Helm's order (hooks.py)."""
        return hooks_verb.run(self, changeset, stage, timeout)

    def check_guards(self, changeset):
        """Refuse, before any write, a run whose deletions a guard forbids."""
        delete_verb.check_guards(self, changeset)

    def delete(self, changeset):
        """Prune the entries planned for pruning, through every guard.  Returns {entry: its
        successor} for each one found already gone."""
        return delete_verb.prune(self, changeset)

    def wait(self, entries, timeout):
        """Wait until every entry is healthy; fail at once when one has failed."""
        return wait_verb.wait(self, entries, timeout)
