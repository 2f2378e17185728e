"""Real servers for charts fetched from repositories and registries, each a process of its own so a
test can stop it (an outage) and start it again:

- OCIRegistry: the OCI distribution registry of go-containerregistry (tests/cluster/registry, built
  from its Go module by cluster.py like helm), behind TLS and basic auth; charts pushed with the real
  `helm push`.
- ChartRepo: a classic Helm chart repository over HTTPS (index.yaml, archives and .prov files served
  as static files, as Helm's own repository test server does), behind basic auth; it logs, per
  request, the path and whether an Authorization header came with it.
- tls(): a CA and a server certificate for 127.0.0.1 and localhost, made with openssl.
- SignKey: a GPG key that signs charts (`helm package --sign`), its public half to trust.
- CosignKey: a key pair made by the real `cosign generate-key-pair` that signs charts in the registry with
  the real `cosign sign`, in either shape cosign writes (a Sigstore bundle, or the older simple signing)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import ssl
from pathlib import Path

from gitfixtures import sh

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLUSTER_BIN = Path(os.environ.get("CLUSTER_DIR") or ROOT / ".cluster") / "bin"


def tls(folder: Path) -> dict[str, Path]:
    """ca.crt, server.crt, server.key under `folder` (the server certificate names 127.0.0.1 and localhost)."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
       "-subj", "/CN=gitops-core test CA", "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
       "-subj", "/CN=localhost", cwd=folder)
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
       "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=folder)
    return {"ca": folder / "ca.crt", "cert": folder / "server.crt", "key": folder / "server.key"}


def _wait_port(port_file: Path, proc: subprocess.Popen, log: Path) -> int:
    for _attempt in range(200):
        if port_file.exists():
            return int(port_file.read_text())
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{proc.args[0]} did not start: {log.read_text()[-2000:]}")


class _Server:
    def __init__(self, folder: Path, certs: dict[str, Path], user: str, password: str):
        self.folder, self.certs, self.user, self.password = folder, certs, user, password
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log = folder / "server.log"

    def _argv(self, port_file: Path) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        port_file = self.folder / "port"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(self._argv(port_file), stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("a"), start_new_session=True)
        self.port = _wait_port(port_file, self.proc, self.log)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _get(self, path: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.certs["ca"]))
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}{path}", context=context, timeout=10) as answer:
            return answer.read()


class OCIRegistry(_Server):
    """The registry at oci://127.0.0.1:PORT; blobs on disk, manifests in memory (a restart empties it).
    With `referrers`, it answers the OCI 1.1 referrers API; without, clients use the sha256-<hex> tag."""

    referrers = False

    def _argv(self, port_file: Path) -> list[str]:
        return [str(CLUSTER_BIN / "registry"), "-addr", f"127.0.0.1:{self.port}", "-cert", str(self.certs["cert"]),
                "-key", str(self.certs["key"]), "-htpasswd", f"{self.user}:{self.password}",
                "-disk", str(self.folder / "blobs"), "-port-file", str(port_file),
                *(["-referrers"] if self.referrers else [])]

    @property
    def url(self) -> str:
        return f"oci://127.0.0.1:{self.port}/charts"

    def requests(self) -> int:
        """How many requests the registry has answered since it started."""
        return int(self._get("/_test/requests"))

    def push(self, archive: Path, helm_home: Path) -> str:
        """`helm push` the archive (with its .prov beside it, if any); the digest helm prints."""
        out = subprocess.run([str(CLUSTER_BIN / "helm"), "push", str(archive), self.url, "--ca-file", str(self.certs["ca"]),
                              "--username", self.user, "--password", self.password],
                             capture_output=True, text=True, env=helm_env(helm_home), check=False)
        assert out.returncode == 0, out.stderr
        return next(line.split()[1] for line in (out.stdout + out.stderr).splitlines() if line.startswith("Digest:"))


class ChartRepo(_Server):
    """A chart repository at https://127.0.0.1:PORT/ serving `folder`/www."""

    def _argv(self, port_file: Path) -> list[str]:
        return [sys.executable, str(HERE / "chart_repo_process.py"), str(self.folder / "www"), self.user, self.password,
                str(self.certs["cert"]), str(self.certs["key"]), str(port_file), str(self.folder / "requests.log"),
                str(self.port)]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def requests(self) -> list[dict]:
        log = self.folder / "requests.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def helm_env(home: Path) -> dict:
    return dict(os.environ, HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"),
                HELM_DATA_HOME=str(home / "data"), HELM_REGISTRY_CONFIG=str(home / "config" / "registry.json"))


def package(chart: Path, dest: Path, helm_home: Path, version: str | None = None,
            keyring: Path | None = None, key: str | None = None) -> Path:
    """`helm package` (signed with `key` of `keyring` when given); the archive's path."""
    args = [str(CLUSTER_BIN / "helm"), "package", str(chart), "-d", str(dest)]
    if version:
        args += ["--version", version]
    if keyring:
        args += ["--sign", "--keyring", str(keyring), "--key", key]
    out = subprocess.run(args, capture_output=True, text=True, env=helm_env(helm_home), check=False)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip().rsplit(": ", 1)[1])


def index(www: Path, helm_home: Path, url: str | None = None) -> None:
    """`helm repo index` the folder (archive URLs relative, or under `url`)."""
    args = [str(CLUSTER_BIN / "helm"), "repo", "index", str(www)] + (["--url", url] if url else [])
    out = subprocess.run(args, capture_output=True, text=True, env=helm_env(helm_home), check=False)
    assert out.returncode == 0, out.stderr


class SignKey:
    """A GPG key that signs charts: `keyring` (the secret keyring helm reads), `public` (armored, to trust)."""

    def __init__(self, folder: Path, name: str):
        home = folder / f"gnupg-{name}"
        home.mkdir(mode=0o700, parents=True)
        env = {"GNUPGHOME": str(home)}
        self.uid = f"{name.title()} Charts <{name}@charts.example.com>"
        sh("gpg", "--batch", "--passphrase", "", "--quick-gen-key", self.uid, "rsa2048", "sign", "never", env=env)
        self.keyring = folder / f"{name}-secring.gpg"
        self.keyring.write_bytes(subprocess.run(["gpg", "--export-secret-keys"], env=dict(os.environ, **env),
                                                capture_output=True, check=True).stdout)
        self.public = sh("gpg", "--armor", "--export", env=env)
        subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, **env), check=False)
        shutil.rmtree(home, ignore_errors=True)


class CosignKey:
    """A cosign key pair (`cosign generate-key-pair`, empty password): `public` the PEM to trust."""

    def __init__(self, folder: Path, name: str):
        self.folder = folder / f"cosign-{name}"
        self.folder.mkdir(parents=True)
        self.env = dict(os.environ, COSIGN_PASSWORD="", DOCKER_CONFIG=str(self.folder / "docker"))
        self.env.pop("COSIGN_REPOSITORY", None)
        out = subprocess.run([str(CLUSTER_BIN / "cosign"), "generate-key-pair"], cwd=self.folder, env=self.env,
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        self.public = (self.folder / "cosign.pub").read_text()

    def sign(self, registry: OCIRegistry, chart: str, digest: str, bundle: bool = True) -> None:
        """`cosign sign` the chart's manifest offline (no transparency log): as a bundle (cosign 3's
        default) or as simple signing (`--new-bundle-format=false`, what cosign 2 writes)."""
        ref = f"127.0.0.1:{registry.port}/charts/{chart}@{digest}"
        args = [str(CLUSTER_BIN / "cosign"), "sign", "--key", str(self.folder / "cosign.key"), "--use-signing-config=false",
                "--tlog-upload=false", "--registry-cacert", str(registry.certs["ca"]),
                "--registry-username", registry.user, "--registry-password", registry.password,
                *([] if bundle else ["--new-bundle-format=false"]), ref]
        out = subprocess.run(args, env=self.env, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
