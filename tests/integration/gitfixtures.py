"""Real git repositories, real signing keys (GPG and SSH, made at test time) and a real HTTP git
server (git http-backend behind Basic auth) for the git_desired_state tests."""
from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def sh(*args: str, cwd=None, env=None, input=None) -> str:
    proc = subprocess.run(args, cwd=cwd, env={**os.environ, **GIT_ENV, **(env or {})}, input=input,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stderr}")
    return proc.stdout


class Keys:
    """GPG keys alice (trusted) and mallory (not), SSH keys bob (trusted) and eve (not)."""

    def __init__(self, root: Path):
        self.root = root
        self.gnupghome = root / "gnupg"
        self.gnupghome.mkdir(mode=0o700)
        self.gpg_env = {"GNUPGHOME": str(self.gnupghome)}
        for name in ("alice", "mallory"):
            sh("gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name.title()} <{name}@example.com>",
               "ed25519", "sign", "never", env=self.gpg_env)
        for name in ("bob", "eve"):
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(root / name))
        self.allowed_signers = f"bob@example.com {(root / 'bob.pub').read_text().strip()}\n"

    def gpg_public(self, name: str) -> str:
        return sh("gpg", "--armor", "--export", f"{name}@example.com", env=self.gpg_env)

    def fingerprint(self, name: str) -> str:
        out = sh("gpg", "--with-colons", "--fingerprint", f"{name}@example.com", env=self.gpg_env)
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    def sign_config(self, signer: str | None) -> list[str]:
        """git -c options that sign with `signer` (alice/mallory: GPG, bob/eve: SSH)."""
        if signer is None:
            return ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
        if signer in ("alice", "mallory"):
            return ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={signer}@example.com"]
        return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.root / signer}"]


class Repo:
    """A bare repository (the remote) and a work tree to commit and push from."""

    def __init__(self, root: Path, keys: Keys | None = None, name: str = "origin.git"):
        self.keys = keys
        self.bare = root / name
        self.work = root / (name + "-work")
        sh("git", "init", "-q", "--bare", "-b", "main", str(self.bare))
        sh("git", "init", "-q", "-b", "main", str(self.work))

    @property
    def url(self) -> str:
        return str(self.bare)

    def git(self, *args: str, signer: str | None = None) -> str:
        env = self.keys.gpg_env if self.keys else {}
        config = self.keys.sign_config(signer) if self.keys else []
        return sh("git", *config, *args, cwd=self.work, env=env)

    def write(self, files: dict[str, str | None]) -> None:
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def commit(self, files: dict[str, str | None], message: str = "change", signer: str | None = None,
               branch: str = "main", push: bool = True) -> str:
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, *(["-S"] if signer else []), signer=signer)
        if push:
            self.git("push", "-q", "--force", str(self.bare), f"HEAD:refs/heads/{branch}")
        return self.git("rev-parse", "HEAD").strip()

    def tag(self, name: str, annotated: bool = True, signer: str | None = None) -> None:
        if signer:
            self.git("tag", "-s", "-m", name, name, signer=signer)
        elif annotated:
            self.git("tag", "-a", "-m", name, name)
        else:
            self.git("tag", name)
        self.git("push", "-q", "--force", str(self.bare), f"refs/tags/{name}")


class _GitHttpHandler(BaseHTTPRequestHandler):
    server_version = "githttp/1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _serve(self):
        expected = "Basic " + base64.b64encode(f"{self.server.user}:{self.server.token}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _q, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {"GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
               "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": self.server.user,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "PATH": os.environ["PATH"]}
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _sep, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _c, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class GitHttpServer:
    """Serves the bare repositories under `root` at http://127.0.0.1:PORT/<name> with Basic auth."""

    def __init__(self, root: Path, user: str, token: str, port: int = 0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _GitHttpHandler)
        self.httpd.root, self.httpd.user, self.httpd.token = root, user, token
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
