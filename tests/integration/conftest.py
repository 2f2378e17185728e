"""Fixtures for tests that run against the real local control plane (make cluster-up)."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR") or ROOT / ".cluster")
# helm, built from its Go module by `cluster.py up` (linked as .cluster/bin/helm), for every
# ansible-playbook and command a test starts.
os.environ["PATH"] = f"{CLUSTER_DIR / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
# every Ansible run the tests start (ansible-playbook, ansible-rulebook's runs, make demo) reads
# tests/integration/ansible.cfg: the controller polls its workers every 20 ms instead of every 1 ms
os.environ.setdefault("ANSIBLE_CONFIG", str(Path(__file__).resolve().parent / "ansible.cfg"))


class Kubectl:
    """kubectl against the test cluster; every call's output is returned, failures raise."""

    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: int = 120,
            extra: tuple[str, ...] | None = None) -> subprocess.CompletedProcess:
        base = ["kubectl", *(extra if extra is not None else ("--kubeconfig", str(self.kubeconfig)))]
        proc = subprocess.run([*base, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def json(self, *args: str, **kw) -> dict:
        return json.loads(self.run(*args, "-o", "json", **kw).stdout)

    @functools.cached_property
    def _core(self):
        """The official client's CoreV1Api on this kubeconfig: the namespace of every test is made and removed
        with it, and polls read through it (a kubectl process costs about 0.07 CPU-s, on 2 busy cores)."""
        from kubernetes import client, config
        return client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))

    # the resources tests read through the client (kubectl's names, singular or plural): API path, plural, namespaced
    RESOURCES = {"configmap": ("/api/v1", "configmaps", True), "secret": ("/api/v1", "secrets", True),
                 "pod": ("/api/v1", "pods", True), "namespace": ("/api/v1", "namespaces", False),
                 "deployment": ("/apis/apps/v1", "deployments", True),
                 "replicaset": ("/apis/apps/v1", "replicasets", True),
                 "lease": ("/apis/coordination.k8s.io/v1", "leases", True)}

    def _read(self, resource: str, name: str | None, namespace: str | None, selector: str | None) -> dict | None:
        """GET one object or a list through the client's connection pool (kubernetes 24 to 37); None when 404."""
        key = resource[:-1] if resource not in self.RESOURCES and resource.endswith("s") else resource
        base, plural, namespaced = self.RESOURCES[key]
        if (namespace and not namespaced) or (name and namespaced and not namespace):
            raise ValueError(f"{resource}: {'cluster-scoped' if namespace else 'a namespace is required'}")
        path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}" + (f"/{name}" if name else "")
        api = self._core.api_client
        headers = {"Accept": "application/json"}
        token = (api.configuration.auth_settings().get("BearerToken") or {}).get("value")
        if token:
            headers["Authorization"] = token
        resp = api.rest_client.pool_manager.request(
            "GET", api.configuration.host + path, fields={"labelSelector": selector} if selector else None,
            headers=headers, timeout=30)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise AssertionError(f"GET {path} failed ({resp.status}): {resp.data[:300]!r}")
        return json.loads(resp.data)

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        """One object as `kubectl get RESOURCE NAME -o json` gives it, or None when there is none."""
        return self._read(resource, name, namespace, None)

    def items(self, resource: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        """The objects of a list, as `kubectl get RESOURCE [-l SELECTOR] -o json`'s items (every namespace's
        when a namespaced resource is listed without one, as -A)."""
        return self._read(resource, None, namespace, selector)["items"]

    def new_namespace(self) -> str:
        """A fresh namespace of a random name (t-...)."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        self._core.create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace without waiting, as `kubectl delete namespace NAME --wait=false`; gone already is fine."""
        from kubernetes.client.exceptions import ApiException
        try:
            self._core.delete_namespace(name, propagation_policy="Background")
        except ApiException as err:
            if err.status != 404:
                raise


class _LoadgroupGuard:
    """Fails every grouped test where `--dist loadgroup` would silently spread a group's tests over several
    workers: pytest 9.2 keeps node ids where pytest-xdist 3.8 cannot add the group (test-requirements.txt
    pins 9.1).  Looks after pytest-xdist's own hook, which adds @GROUP to the node ids on each worker."""

    def __init__(self):
        self.broken = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if not getattr(config.option, "loadgroup", False):
            return
        for item in items:
            group = item.get_closest_marker("xdist_group")
            if group is not None and not item.nodeid.endswith("@" + group.args[0]):
                self.broken = (f"--dist loadgroup is not in effect ({item.nodeid} has no @{group.args[0]}): "
                               "this pytest and pytest-xdist do not work together")
                return

    def pytest_runtest_setup(self, item):
        if self.broken and item.get_closest_marker("xdist_group"):
            pytest.fail(self.broken, pytrace=False)


def pytest_configure(config):
    config.pluginmanager.register(_LoadgroupGuard(), "gitops-core-loadgroup-guard")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Longest first: a group kept on one worker (the second control plane's tests run one after
    another there), then tests marked fault or slow, then the rest, each in file order.  Started last,
    a long test or group would leave the other workers idle at the end of the run."""
    def rank(item):
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.get_closest_marker("fault") or item.get_closest_marker("slow") else 2
    items.sort(key=rank)


@pytest.fixture(autouse=True)
def cpu_seconds(record_property):
    """CPU seconds of the processes a test started (ansible-playbook and its modules, kubectl, git),
    recorded in the JUnit XML: make test has 2 cores and is CPU-bound, so this is what a test costs
    the suite (hack/summarise_junit.py lists the largest)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    yield
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    record_property("cpu_s", round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1))


def _cluster_state() -> dict:
    state_file = CLUSTER_DIR / "state.json"
    if not state_file.exists():
        pytest.fail(f"no running control plane ({state_file} missing): run `make cluster-up` first", pytrace=False)
    return json.loads(state_file.read_text())


@pytest.fixture(scope="session")
def cluster_state() -> dict:
    return _cluster_state()


@pytest.fixture(scope="session")
def kubeconfig(cluster_state) -> Path:
    return CLUSTER_DIR / "kubeconfig"


@pytest.fixture(scope="session")
def kubectl(kubeconfig) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture
def namespace(kubectl):
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = kubectl.new_namespace()
    yield name
    kubectl.delete_namespace(name)


class PlaybookRun:
    def __init__(self, proc: subprocess.CompletedProcess, record_dir: Path):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        # name -> registered result, saved by the playbook's `record` tasks in record_dir
        self.results = {f.stem: json.loads(f.read_text()) for f in record_dir.glob("*.json")}


@pytest.fixture
def ansible_playbook(tmp_path):
    """Run a real ansible-playbook (the one beside this pytest's Python, so the compatibility
    venv runs its own ansible-core) on localhost.  The playbook can save registered results with
    `record: NAME` vars; they come back in PlaybookRun.results."""

    def start(playbook: str, extra_vars: dict | None = None, check: bool = False, diff: bool = False,
              env: dict | None = None, args: tuple[str, ...] = ()) -> RunningPlaybook:
        """Start ansible-playbook in its own process group (to kill it whole); .wait() gives the PlaybookRun."""
        run_dir = tmp_path / f"run-{uuid.uuid4().hex[:6]}"
        record_dir = run_dir / "records"
        record_dir.mkdir(parents=True)
        book = run_dir / "play.yml"
        book.write_text(playbook)
        argv = _playbook_argv(book, record_dir, extra_vars, check, diff, args)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_ansible_env(env, record_dir), start_new_session=True)
        return RunningPlaybook(proc, record_dir)

    def run(playbook: str, extra_vars: dict | None = None, check: bool = False, diff: bool = False,
            env: dict | None = None, args: tuple[str, ...] = ()) -> PlaybookRun:
        return play(tmp_path, playbook, extra_vars, check, diff, env, args)

    run.start = start
    return run


def play(folder: Path, playbook: str, extra_vars: dict | None = None, check: bool = False, diff: bool = False,
         env: dict | None = None, args: tuple[str, ...] = ()) -> PlaybookRun:
    """Run a real ansible-playbook (the one beside this pytest's Python) on localhost with the playbook
    text written in `folder`; registered results come back in PlaybookRun.results."""
    book = folder / f"play-{uuid.uuid4().hex[:6]}.yml"
    book.write_text(playbook)
    record_dir = folder / "records"
    record_dir.mkdir(exist_ok=True)
    argv = _playbook_argv(book, record_dir, extra_vars, check, diff, args)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=_ansible_env(env, record_dir),
                          check=False)
    return PlaybookRun(proc, record_dir)


def _playbook_argv(book: Path, record_dir: Path, extra_vars: dict | None, check: bool, diff: bool,
                   args: tuple[str, ...]) -> list[str]:
    """The one ansible-playbook command line of the tests, for `play` and `ansible_playbook.start`: the
    ansible-playbook beside this pytest's Python, on localhost, with the cluster's kubeconfig, the record
    folder and this Python as the module interpreter (a test's extra vars may override them)."""
    variables = {"kubeconfig": str(CLUSTER_DIR / "kubeconfig"), "record_dir": str(record_dir),
                 "ansible_python_interpreter": sys.executable, **(extra_vars or {})}
    return [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", json.dumps(variables), str(book), *(["--check"] if check else []),
            *(["--diff"] if diff else []), *args]


def _ansiballz_cache() -> str:
    """The AnsiballZ payload folder the test run's playbooks share (callback_plugins/shared_ansiballz.py),
    keyed by the ansible-core version, the installed collection's content and the callback that builds it: a
    payload is built once per test run, and never reused for other code."""
    import ansible
    key = hashlib.sha256(f"{ansible.__version__}\0{Path(ansible.__file__).parent}\0".encode())
    key.update((Path(__file__).parent / "callback_plugins" / "shared_ansiballz.py").read_bytes())
    plugins = ROOT / ".collections" / "ansible_collections" / "gitops" / "core" / "plugins"
    for path in sorted(plugins.rglob("*.py")):
        key.update(str(path.relative_to(plugins)).encode() + b"\0" + path.read_bytes())
    return str(ROOT / ".build" / "ansiballz" / key.hexdigest()[:16])


ANSIBALLZ_CACHE = _ansiballz_cache()
# the test callbacks (callback_plugins/) and the shared payloads, for any ansible-playbook a test starts
CALLBACK_ENV = {"ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
                "GITOPS_TEST_ANSIBALLZ_CACHE": ANSIBALLZ_CACHE}


def _ansible_env(env: dict | None, record_dir: Path | None = None) -> dict:
    """ansible-playbook's environment; registered results are saved to `record_dir` by the test
    callback callback_plugins/record_results.py."""
    scratch = {}
    if record_dir is not None:  # Ansible's temporary files (kept by a killed run) stay in the test's folder
        scratch = {"ANSIBLE_LOCAL_TEMP": str(record_dir.parent / "ansible-local"),
                   "ANSIBLE_REMOTE_TMP": str(record_dir.parent / "ansible-remote")}
    out = dict(os.environ, **CALLBACK_ENV, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               GITOPS_TEST_RECORD_DIR=str(record_dir or ""),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    out.update(scratch)
    out.update(env or {})
    if out["ANSIBLE_COLLECTIONS_PATH"] != str(ROOT / ".collections"):  # another copy of the collection
        out.pop("GITOPS_TEST_ANSIBALLZ_CACHE")
    return out


class RunningPlaybook:
    def __init__(self, proc: subprocess.Popen, record_dir: Path):
        self.proc = proc
        self.record_dir = record_dir

    def wait(self, timeout: float = 600) -> PlaybookRun:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        done = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout, stderr)
        return PlaybookRun(done, self.record_dir)

    def kill(self) -> None:
        """SIGKILL ansible-playbook and every descendant (its workers and the module process, which
        Ansible starts in a session of its own), all at once, as a crashed machine would stop them."""
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.communicate()


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def tasks_book(tasks: list, names: list[str] | None = None, titles: list[str] | None = None,
               records: list[str] | None = None) -> str:
    """A playbook of gitops.core tasks, in order, failures kept (`ignore_errors`).  A task is (module,
    params) or (module, params, {"check": bool, "diff": bool}); task i registers names[i] (default stepI),
    is named titles[i] (default "Step I, MODULE") and its result is recorded as records[i] (default its
    register name).  A task's check or diff flag is set only when true, so ansible-playbook's
    --check/--diff still apply."""
    lines = ["- name: Run gitops.core modules", "  hosts: localhost", "  gather_facts: false", "  tasks:"]
    for index, task in enumerate(tasks):
        module, params, flags = task[0], task[1], (task[2] if len(task) > 2 else {})
        lines += [f"    - name: {json.dumps(titles[index] if titles else f'Step {index}, {module}')}",
                  f"      gitops.core.{module}: {json.dumps(params)}",
                  f"      register: {names[index] if names else f'step{index}'}",
                  "      ignore_errors: true"]
        lines += [f"      vars: {{record_as: {records[index]}}}"] if records else []
        lines += ["      check_mode: true"] if flags.get("check") else []
        lines += ["      diff: true"] if flags.get("diff") else []
    return "\n".join(lines) + "\n"


def roles_book(*plays: tuple[str, dict]) -> str:
    """A playbook of one play per (gitops.core role, its variables), in order."""
    return "".join(f"- name: Role {role}\n  hosts: localhost\n  gather_facts: false\n  roles:\n"
                   f"    - role: gitops.core.{role}\n      vars: {json.dumps(variables)}\n" for role, variables in plays)


def one_task_book(module: str, params: dict) -> str:
    """A playbook of one gitops.core task registering `r`; the kubeconfig comes from the `kubeconfig`
    variable (the ansible_playbook fixture sets it)."""
    return tasks_book([(module, dict(params, kubeconfig="{{ kubeconfig }}"))], names=["r"])


@pytest.fixture
def run_tasks(ansible_playbook):
    """Run gitops.core modules as the tasks of one playbook, in order, failures included
    (`ignore_errors`): a test's consecutive runs with nothing done between them cost one
    ansible-playbook start-up, most of a run's CPU.  A task is (module, params) or (module, params,
    {"check": bool, "diff": bool}); returns the registered results, each with the playbook's stdout
    under `_stdout`."""

    def run(tasks: list) -> list[dict]:
        played = ansible_playbook(tasks_book(tasks))
        results = []
        for index in range(len(tasks)):
            assert f"step{index}" in played.results, played.stdout + played.stderr
            result = played.results[f"step{index}"]
            result["_stdout"] = played.stdout
            results.append(result)
        return results

    return run


@pytest.fixture
def run_task(run_tasks):
    """Run one gitops.core module as a playbook task (failures included, `ignore_errors`) and
    return its registered result, with the playbook's stdout under `_stdout`."""

    def run(module: str, params: dict, check: bool = False, diff: bool = False) -> dict:
        return run_tasks([(module, params, {"check": check, "diff": diff})])[0]

    return run


@pytest.fixture(scope="session")
def lockstep_batches():
    """module name -> the lockstep Batch of its `@lockstep.case`s (tests/integration/lockstep.py), each run
    once per session whatever order the items come in; what they made is removed when all have reported."""
    batches: dict = {}
    yield batches
    for batch, _left in batches.values():
        batch.finish()


@pytest.fixture
def lockstep_outcome(request, lockstep_batches, tmp_path_factory):
    """Passes or fails as the lockstep case of the test's name did.  The first case of a module to be
    called runs them all (so its cpu_s counts the whole batch)."""
    from lockstep import Batch, builtin_fixtures
    module = request.module

    def outcome(case: str) -> None:
        if module.__name__ not in lockstep_batches:
            book = module.lockstep
            selected = [item.name for item in request.session.items
                        if item.module is module and item.name in book.cases]
            batch = Batch(book, lambda text: play(tmp_path_factory.mktemp("lockstep-run"), text),
                          builtin_fixtures(tmp_path_factory, lambda: Kubectl(CLUSTER_DIR / "kubeconfig"),
                                           _cluster_state, lambda: CLUSTER_DIR / "kubeconfig"))
            lockstep_batches[module.__name__] = (batch, set(selected))
            batch.run(selected)
        batch, left = lockstep_batches[module.__name__]
        left.discard(case)
        if not left:
            batch.finish()
        if case not in batch.outcomes:
            raise AssertionError(f"lockstep: {case} has no outcome")
        error = batch.outcomes[case]
        if error is not None:
            raise error

    return outcome


@pytest.fixture(scope="session")
def second_cluster(tmp_path_factory):
    """A second local control plane (CLUSTER_DIR in a temporary folder), for the tests that kill its
    processes or need two clusters: (cluster dir, Kubectl, control(cmd, component) for cluster.py
    kill/restart).  Its tests share an xdist group, so it starts once per group's worker: the fault
    tests ("second-control-plane", long waits on restarts) and the agent and two-cluster tests
    ("second-control-plane-b") run on two workers, each with a control plane of its own, so neither
    chain waits for the other."""
    cdir = tmp_path_factory.mktemp("second-cluster") / "cluster"
    env = dict(os.environ, CLUSTER_DIR=str(cdir))
    script = [sys.executable, str(ROOT / "tests" / "cluster" / "cluster.py")]
    up = subprocess.run([*script, "up"], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert up.returncode == 0, up.stderr[-2000:]

    def control(cmd, component):
        if cmd == "kill":  # in-process, at once: a cluster.py start-up on a loaded machine took seconds, and a
            saved = os.environ.get("CLUSTER_DIR")  # run under test could finish before the kill landed
            os.environ["CLUSTER_DIR"] = str(cdir)
            try:
                _cluster_script().kill(component)
            finally:
                if saved is None:
                    del os.environ["CLUSTER_DIR"]
                else:
                    os.environ["CLUSTER_DIR"] = saved
            return ""
        done = subprocess.run([*script, cmd, component], env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr

    def down():
        subprocess.run([*script, "down"], env=env, capture_output=True, timeout=120, check=False)
    _STOP_SECOND_CLUSTER[:] = [down]
    yield cdir, Kubectl(cdir / "kubeconfig"), control
    if _STOP_SECOND_CLUSTER:
        _STOP_SECOND_CLUSTER.pop()()


_STOP_SECOND_CLUSTER = []


def _cluster_script():
    """tests/cluster/cluster.py as a module (its kill() for the fault tests)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("gitops_core_cluster", ROOT / "tests" / "cluster" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_runtest_teardown(item, nextitem):
    """Stop the second control plane once the last test using it on this worker is done (its tests
    run first, one after another): left idling until the session ends it costs CPU the other tests need."""
    if _STOP_SECOND_CLUSTER and "second_cluster" in item.fixturenames and (
            nextitem is None or "second_cluster" not in nextitem.fixturenames):
        _STOP_SECOND_CLUSTER.pop()()
