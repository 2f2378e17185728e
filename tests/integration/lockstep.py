"""Lockstep: the playbook runs of many tests as one ansible-playbook.

make test is CPU-bound on 2 cores, and an ansible-playbook start-up (about 1.7 CPU-s, loading
ansible-core's own configuration and plugin metadata) costs more than most module runs.  A test module
declares its tests with `@lockstep.case`: they run together, each in a thread of its own, with the same
fixtures as before (by parameter name).  Whenever every one of them waits on `run_tasks`/`run_task` (or
has finished), the tasks they wait on run as ONE playbook, each test's tasks in its order, and each test
goes on with its own results.  A module of 20 tests of two or three runs each then costs three start-ups
instead of fifty.  Each test still passes or fails on its own, with its own traceback; its `_stdout` is the
output of its own tasks only.

    lockstep = Lockstep()                     # one per test module, under this name

    @lockstep.fixture                         # a fixture for the cases and, as usual, for pytest
    def set_name():
        return unique_name("t")

    @lockstep.case                            # collected as test_... (one pytest item, as before)
    def test_something(run_tasks, kubectl, namespace, set_name):
        ...

The cases of one module share an xdist group (one worker).  A case must not need its own ansible-playbook
settings (environment, extra arguments): such a test stays a plain test.  What the cases can ask for:
their module's `@lockstep.fixture`s and BUILTIN_FIXTURES below."""
from __future__ import annotations

import inspect
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

# how long a batch may wait for the cases' own work between runs (kubectl, git) before it fails them
DEADLINE_S = 1800
BUILTIN_FIXTURES = ("run_tasks", "run_task", "kubectl", "kubeconfig", "cluster_state", "namespace", "tmp_path",
                    "tmp_path_factory")


class Lockstep:
    """The cases and fixtures of one test module (see the module docstring)."""

    def __init__(self) -> None:
        self.cases: dict[str, Callable] = {}
        self.fixtures: dict[str, tuple[Callable, str]] = {}

    def fixture(self, fn: Callable | None = None, *, scope: str = "function"):
        """A fixture the module's cases can ask for by name (scope "function": one per case; "module":
        one for all); it is also registered as an ordinary pytest fixture for the module's other tests."""
        def register(fn: Callable):
            self.fixtures[fn.__name__] = (fn, scope)
            return pytest.fixture(fn, scope=scope)
        return register(fn) if fn is not None else register

    def case(self, fn: Callable) -> Callable:
        """Run `fn` in lockstep with the module's other cases; returns the pytest test standing for it."""
        self.cases[fn.__name__] = fn

        def test(lockstep_outcome):
            lockstep_outcome(fn.__name__)

        test.__name__ = test.__qualname__ = fn.__name__
        test.__doc__, test.__module__ = fn.__doc__, fn.__module__
        marks = list(getattr(fn, "pytestmark", []))
        group = pytest.mark.xdist_group(f"lockstep-{fn.__module__}")
        test.pytestmark = marks + [group.mark]
        return test


class Batch:
    """One run of a module's selected cases: each in a thread; their waiting run_tasks calls played together."""

    def __init__(self, book: Lockstep, play: Callable, builtins: dict[str, Callable],
                 deadline_s: float = DEADLINE_S) -> None:
        self.book = book
        self.deadline_s = deadline_s
        self.play = play  # play(playbook_text) -> PlaybookRun
        self.builtins = builtins  # name -> factory(case name, teardowns) for BUILTIN_FIXTURES but run_tasks
        self.cond = threading.Condition()
        self.running = 0
        self.pending: list[tuple[str, list, dict]] = []
        self.outcomes: dict[str, BaseException | None] = {}
        self.teardowns: list[Callable] = []

    # ------------------------------------------------------------------ fixtures by name

    def _resolve(self, case: str, fn: Callable, cache: dict, shared: dict) -> list:
        args = []
        for name in inspect.signature(fn).parameters:
            args.append(self._value(case, name, cache, shared))
        return args

    def _value(self, case: str, name: str, cache: dict, shared: dict) -> Any:
        if name in cache:
            return cache[name]
        if name in ("run_tasks", "run_task"):
            value = self._runner(case) if name == "run_tasks" else (
                lambda module, params, check=False, diff=False: self._runner(case)(
                    [(module, params, {"check": check, "diff": diff})])[0])
        elif name in self.book.fixtures:
            fn, scope = self.book.fixtures[name]
            store = shared if scope == "module" else cache
            if name in store:
                return store[name]
            value = self._call(fn, self._resolve(case, fn, cache, shared))
            store[name] = value
            return value
        elif name in self.builtins:
            value = self.builtins[name](case, self.teardowns)
        else:
            raise LookupError(f"lockstep case {case} asks for '{name}', which is neither one of its module's "
                              f"@lockstep.fixture nor one of {', '.join(BUILTIN_FIXTURES)}")
        cache[name] = value
        return value

    def _call(self, fn: Callable, args: list) -> Any:
        if inspect.isgeneratorfunction(fn):
            gen = fn(*args)
            value = next(gen)
            self.teardowns.append(lambda: next(gen, None))
            return value
        return fn(*args)

    # ------------------------------------------------------------------ the lockstep

    def _runner(self, case: str) -> Callable[[list], list[dict]]:
        def run_tasks(tasks: list) -> list[dict]:
            slot: dict[str, Any] = {}
            with self.cond:
                self.pending.append((case, tasks, slot))
                self.running -= 1
                self.cond.notify_all()
                while "results" not in slot and "error" not in slot:
                    self.cond.wait()
            if "error" in slot:
                raise slot["error"]
            return slot["results"]
        return run_tasks

    def _thread(self, case: str, fn: Callable, args: list) -> None:
        try:
            fn(*args)
            self.outcomes.setdefault(case, None)  # setdefault: a case past the deadline has failed already
        except BaseException as exc:  # pytest's skip and fail are BaseExceptions too; re-raised by the test
            self.outcomes.setdefault(case, exc)
        finally:
            with self.cond:
                self.running -= 1
                self.cond.notify_all()

    def run(self, cases: list[str]) -> None:
        shared: dict = {}
        threads = []
        for case in cases:
            fn = self.book.cases[case]
            try:
                args = self._resolve(case, fn, {}, shared)
            except BaseException as exc:  # a fixture that failed: this case errors, the others run
                self.outcomes[case] = exc
                continue
            threads.append(threading.Thread(target=self._thread, args=(case, fn, args), name=case, daemon=True))
        self.running = len(threads)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.deadline_s
        while True:
            with self.cond:
                while self.running > 0:
                    if not self.cond.wait(timeout=max(0.0, deadline - time.monotonic())):
                        busy = [t.name for t in threads if t.is_alive()]
                        for name in busy:  # each fails; the others keep their outcome
                            self.outcomes[name] = AssertionError(
                                f"lockstep: still busy after {self.deadline_s}s (with {', '.join(busy)})")
                        return
                batch, self.pending = self.pending, []
            if not batch:
                break
            self._play(batch)

    def _play(self, batch: list[tuple[str, list, dict]]) -> None:
        """One playbook of every waiting case's tasks; each case gets its own results and output."""
        from conftest import tasks_book  # the one playbook shape of the integration tests
        # each case's tasks register step0, step1... as in a playbook of its own (a later task may use an
        # earlier one's result; the cases run one after another), and are recorded as c<case>_step<i>
        tasks, names, titles, records = [], [], [], []
        for k, (case, case_tasks, _slot) in enumerate(batch):
            for i, task in enumerate(case_tasks):
                tasks.append(task)
                names.append(f"step{i}")
                records.append(f"c{k}_step{i}")
                titles.append(f"{case}, step {i}, {task[0]}")
        try:
            played = self.play(tasks_book(tasks, names, titles, records))
        except BaseException as exc:
            played, error = None, exc
        else:
            error = None
        sections = _task_sections(played.stdout) if played else {}
        with self.cond:
            for k, (case, case_tasks, slot) in enumerate(batch):
                results = []
                for i in range(len(case_tasks)):
                    if played is None or f"c{k}_step{i}" not in played.results:
                        slot["error"] = error or AssertionError(
                            f"lockstep: no result for {case} step {i}; the playbook's output:\n"
                            + played.stdout[-4000:] + played.stderr[-4000:])
                        break
                    results.append(played.results[f"c{k}_step{i}"])
                else:
                    own = "".join(text for title, text in sections.items() if title.startswith(f"{case}, step "))
                    for result in results:
                        result["_stdout"] = own
                    slot["results"] = results
                self.running += 1
            self.cond.notify_all()

    def finish(self) -> None:
        teardowns, self.teardowns = self.teardowns, []
        for teardown in reversed(teardowns):
            try:
                teardown()
            except Exception:  # a teardown's failure must not hide the other teardowns; as pytest, go on
                pass


def _task_sections(stdout: str) -> dict[str, str]:
    """ansible-playbook's default output cut at each 'TASK [title]' header: title -> that task's text."""
    sections: dict[str, str] = {}
    title = None
    for line in stdout.splitlines(keepends=True):
        found = re.match(r"TASK \[(.*)\] \**\s*$", line)
        if found:
            title = found.group(1)
            sections[title] = ""
        elif line.startswith(("PLAY RECAP", "PLAY [")):
            title = None
        if title is not None:
            sections[title] += line
    return sections


def builtin_fixtures(tmp_path_factory, kubectl_factory: Callable, cluster_state_factory: Callable,
                     kubeconfig_path: Callable) -> dict[str, Callable]:
    """The conftest fixtures a case can ask for, as factories(case, teardowns)."""
    def namespace(case: str, teardowns: list) -> str:
        kubectl = kubectl_factory()
        name = kubectl.new_namespace()
        teardowns.append(lambda: kubectl.delete_namespace(name))
        return name

    return {
        "tmp_path": lambda case, _t: Path(tmp_path_factory.mktemp(case[:40])),
        "tmp_path_factory": lambda case, _t: tmp_path_factory,
        "kubectl": lambda case, _t: kubectl_factory(),
        "cluster_state": lambda case, _t: cluster_state_factory(),
        "kubeconfig": lambda case, _t: kubeconfig_path(),
        "namespace": namespace,
    }
