"""A real ansible-rulebook (from PyPI, with its Java 17 Drools runtime) running one of the collection's
rulebooks against a real control plane, for the event-source tests and bench/bench_eda.py."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULEBOOKS = ROOT / "extensions" / "eda" / "rulebooks"
BIN = Path(sys.executable).parent


class Rulebook:
    """ansible-rulebook -r RULEBOOK --vars VARS, in its own process group, its output in a file."""

    def __init__(self, name: str, variables: dict, host_vars: dict, work: Path, verbose: bool = True,
                 env: dict | None = None):
        """`variables`: the rulebook's (--vars); `host_vars`: the playbooks' (the inventory's localhost); `env`: more
        environment (the tests add conftest.CALLBACK_ENV; the benchmarks run the playbooks as users do)."""
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        (work / "vars.yml").write_text(yaml.safe_dump(variables))
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars}
        (work / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": local}}}))
        self.log = work / "rulebook.log"
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{ROOT / '.cluster' / 'bin'}{os.pathsep}{os.environ['PATH']}",
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                   ANSIBLE_LOCAL_TEMP=str(work / "ansible-local"), HOME=str(work / "home"), **(env or {}))
        argv = [str(BIN / "ansible-rulebook"), "-r", str(RULEBOOKS / name), "-i", str(work / "inventory.yml"),
                "--vars", str(work / "vars.yml"), "--print-events"] + (["-vv"] if verbose else [])
        self.proc = subprocess.Popen(argv, cwd=work, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def recaps(self) -> int:
        """Playbook runs finished so far."""
        return self.output().count("PLAY RECAP")

    def events(self) -> list[str]:
        """The gitops.core events printed (--print-events), one line each."""
        return [line for line in self.output().splitlines() if "'gitops': {" in line or '"gitops": {' in line]

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError("ansible-rulebook exited (%s):\n%s" % (self.proc.returncode, self.output()[-4000:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def push_payload(repo_url: str, ref: str, after: str) -> bytes:
    """A push event as GitHub sends it (the fields the push rulebook reads)."""
    return json.dumps({"ref": ref, "after": after, "repository": {"clone_url": repo_url, "full_name": "team/app"},
                       "pusher": {"name": "dev"}}).encode()


def post_webhook(port: int, body: bytes, secret: str) -> int:
    """POST `body` to the webhook signed with `secret` (X-Hub-Signature-256); the HTTP status."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/endpoint", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_listening(port: int, rulebook: Rulebook, timeout: float = 60) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rulebook.alive()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the webhook did not listen on %d:\n%s" % (port, rulebook.output()[-3000:]))
