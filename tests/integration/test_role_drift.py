"""The gitops.core.drift role through playbooks/drift_check.yml: clean (job succeeds), drifted (job
fails, a JSON notification reaches a real HTTP receiver, no Secret value in it), a notification
endpoint that is down (a warning; the result is not lost), and set_stats for AWX workflows."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from gitfixtures import Repo

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUE = "drift-role-s3cret-77"


class Receiver:
    """A real HTTP server on a free port that keeps every JSON body POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                received.append({"content_type": self.headers.get("Content-Type"),
                                 "raw": self.rfile.read(length).decode()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hooks/drift" % self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.mark.slow
def test_drift_playbook_reports_notifies_and_fails_on_drift(ansible_playbook, kubectl, namespace, tmp_path, receiver):
    repo = Repo(tmp_path)
    repo.commit({"app/all.yaml": yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}}}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
         "stringData": {"password": SECRET_VALUE}}])})
    set_name = "drole-" + namespace[2:]
    common = {"drift_repo": repo.url, "drift_set_name": set_name, "drift_path": ["app"],
              "drift_kubeconfig": "{{ kubeconfig }}", "drift_notify_url": receiver.url,
              "drift_report_dir": str(tmp_path / "reports")}
    sync = ansible_playbook((ROOT / "playbooks" / "sync.yml").read_text(), extra_vars={
        "sync_repo": repo.url, "sync_set_name": set_name, "sync_path": ["app"], "sync_kubeconfig": "{{ kubeconfig }}",
        "sync_wait": False})
    assert sync.rc == 0, sync.stdout[-3000:]
    book = (ROOT / "playbooks" / "drift_check.yml").read_text()

    clean = ansible_playbook(book, extra_vars=common, env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert clean.rc == 0, clean.stdout[-3000:]
    assert "no drift (2 objects)" in clean.stdout and receiver.received == []  # nothing to tell
    assert '"drift": false' in clean.stdout.split("CUSTOM STATS")[-1]

    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=3")
    kubectl.run("-n", namespace, "patch", "secret", "db", "-p",
                json.dumps({"data": {"password": base64.b64encode(b"live-" + SECRET_VALUE.encode()).decode()}}))
    drifted = ansible_playbook(book, extra_vars=common)
    assert drifted.rc != 0 and "drift in %s" % set_name in drifted.stdout
    [message] = receiver.received
    assert message["content_type"].startswith("application/json")
    body = json.loads(message["raw"])
    assert body["text"].startswith(":warning:") and "2 modified" in body["text"], body["text"]
    assert body["gitops"]["summary"]["modified"] == 2 and body["gitops"]["set_name"] == set_name
    expected = ["apps/Deployment %s/web" % namespace, "Secret %s/db" % namespace]
    assert sorted(body["gitops"]["drifted"]) == sorted(expected)
    for text in (message["raw"], drifted.stdout):
        assert SECRET_VALUE not in text and base64.b64encode(SECRET_VALUE.encode()).decode() not in text
    assert (tmp_path / "reports" / "drift.junit.xml").exists()

    # the notification endpoint is down: a warning, and the job still fails on the drift it found
    down = dict(common, drift_notify_url="http://127.0.0.1:9/unreachable")
    undelivered = ansible_playbook(book, extra_vars=down)
    assert undelivered.rc != 0 and "drift in %s" % set_name in undelivered.stdout
    assert "WARNING: the drift notification to 127.0.0.1 was not delivered" in undelivered.stdout

    # heal instead of failing: the job succeeds and the cluster matches Git again
    healed = ansible_playbook(book, extra_vars=dict(common, drift_remediate=True))
    assert healed.rc == 0, healed.stdout[-3000:]
    assert kubectl.json("-n", namespace, "get", "deployment", "web")["spec"]["replicas"] == 1
    assert "drift: " in healed.stdout  # what was found, then healed
