"""Build, start and stop a real local Kubernetes control plane (no Docker, no downloads of
release binaries).

  cluster.py build    compile kcp (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
                      and kwok from their Go modules into a cache outside the repo
  cluster.py up       build if needed, start everything on 127.0.0.1, write .cluster/kubeconfig
  cluster.py status   say whether it runs, its version, ports and memory
  cluster.py down     stop it and remove .cluster/
  cluster.py kill NAME      SIGKILL one component (kube-apiserver, etcd, ...): fault tests
  cluster.py restart NAME   start it again with the same arguments and wait until it serves
  cluster.py nodes N        at least N KWOK fake nodes of 110 pods each, Ready (make bench adds them)
  cluster.py helm|sops|age-keygen|registry|prometheus|cosign   build that tool (TOOLS) from its Go module into the same cache,
                      print its path; `up` links each as .cluster/bin/<tool> (the tests put .cluster/bin
                      first on PATH)

Environment: KUBE_VERSION (default: the version pinned in kcp/go.mod; "1.34" picks the newest
1.34 patch), CLUSTER_NODES (fake nodes at `up`, default 2), GITOPS_CORE_CACHE (default ~/.cache/gitops-core), CLUSTER_DIR (default .cluster
at the repository root).  Standard library only, plus `go` and `openssl`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KCP_SRC = HERE / "kcp"
KWOK_VERSION = "v0.8.0"
HELM_MODULE = "helm.sh/helm/v4"
HELM_VERSION = "v4.3.1"
SOPS_MODULE = "github.com/getsops/sops/v3"
SOPS_VERSION = "v3.13.3"
AGE_MODULE = "filippo.io/age"
AGE_VERSION = "v1.3.1"  # the version sops (SOPS_VERSION) requires
COSIGN_MODULE = "github.com/sigstore/cosign/v3"
COSIGN_VERSION = "v3.1.3"
# The KWOK stages that make fake nodes Ready (with leases) and pods Running/Ready/Completed.
KWOK_STAGES = [
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
]
NODES = int(os.environ.get("CLUSTER_NODES") or 2)  # KWOK fake nodes at `up` (110 pods each); `nodes N` adds more
SERVICE_CIDR = "10.0.0.0/16"
POD_CIDR = "10.244.0.0/16"


def log(msg: str) -> None:
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    log(f"error: {msg}")
    raise SystemExit(1)


def cache_root() -> Path:
    return Path(os.environ.get("GITOPS_CORE_CACHE") or Path.home() / ".cache" / "gitops-core")


def cluster_dir() -> Path:
    return Path(os.environ.get("CLUSTER_DIR") or ROOT / ".cluster").resolve()


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


# --------------------------------------------------------------------------- build

def pinned_version() -> str:
    m = re.search(r"^(?:require )?\s*k8s\.io/kubernetes (v\S+)$", (KCP_SRC / "go.mod").read_text(), re.M)
    return m.group(1)


def resolve_version(wanted: str | None) -> str:
    """'' -> the pinned version; '1.34' -> newest published v1.34.x; 'v1.34.2' -> itself."""
    if not wanted:
        return pinned_version()
    wanted = wanted.lstrip("v")
    if re.fullmatch(r"1\.\d+\.\d+", wanted):
        return "v" + wanted
    if not re.fullmatch(r"1\.\d+", wanted):
        die(f"KUBE_VERSION must look like 1.34 or 1.34.2, got {wanted!r}")
    pinned = pinned_version()
    if pinned.startswith(f"v{wanted}."):
        return pinned
    out = run(["go", "list", "-m", "-versions", "k8s.io/kubernetes"], capture_output=True, text=True).stdout
    found = [v for v in out.split()[1:] if re.fullmatch(rf"v{re.escape(wanted)}\.\d+", v)]
    if not found:
        die(f"no published k8s.io/kubernetes release for {wanted}")
    return max(found, key=lambda v: int(v.rsplit(".", 1)[1]))


def module_dir(version: str) -> Path:
    """The Go module to build: the committed one for the pinned version, else a generated one."""
    if version == pinned_version():
        return KCP_SRC
    gen = cache_root() / "src" / version
    if not (gen / "go.sum").exists():
        log(f"generating the control-plane module for {version}")
        tmp = Path(tempfile.mkdtemp(prefix=f"src-{version}-", dir=cache_root()))
        for f in KCP_SRC.glob("*.go"):
            shutil.copy(f, tmp)
        run([sys.executable, str(HERE / "gen_gomod.py"), version, str(tmp)])
        run(["go", "mod", "tidy"], cwd=tmp)
        gen.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(gen, ignore_errors=True)
        tmp.rename(gen)
    return gen


def build_key(src: Path, version: str) -> str:
    h = hashlib.sha256()
    go_version = run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    # Everything that goes into the binaries, and nothing else (editing this launcher must not
    # force a rebuild): sources, module sums, toolchain, flags, KWOK version and stages.
    h.update(f"{version}\n{go_version}\n{ldflags(version)}\nkwok {KWOK_VERSION} {KWOK_STAGES}\n".encode())
    for f in sorted(list(src.glob("*.go")) + [src / "go.mod", src / "go.sum"]):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def build(version: str) -> Path:
    """Return the cache folder holding kcp, kwok and the KWOK stages; build it when missing."""
    src = module_dir(version)
    out = cache_root() / "cluster" / f"{version}-{build_key(src, version)}"
    if (out / ".complete").exists():
        return out
    log(f"building the control plane {version} into {out} (cold builds take a while on 2 cores)")
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent if out.parent.exists() else None))
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0")
    run(["go", "build", "-trimpath", "-tags", "selinux,notest", "-ldflags", ldflags(version),
         "-o", str(tmp / "kcp"), "."], cwd=src, env=env)
    run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"],
        env=dict(env, GOBIN=str(tmp)))
    info = json.loads(run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"],
                          capture_output=True, text=True).stdout)
    (tmp / "stages").mkdir()
    for stage in KWOK_STAGES:
        shutil.copy(Path(info["Dir"]) / stage, tmp / "stages" / Path(stage).name)
    (tmp / ".complete").write_text(f"{version} built in {time.monotonic() - started:.0f}s\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"built in {time.monotonic() - started:.0f}s")
    return out


def _helm_flags(version: str) -> str:
    return (f"-s -w -X {HELM_MODULE}/internal/version.version={version} "
            f"-X {HELM_MODULE}/internal/version.metadata= -X {HELM_MODULE}/internal/version.gitTreeState=clean")


# The tools the tests drive, each built from its Go module: name -> (module, package, version, ldflags).
# sops is the reference SOPS implementation (issue: secrets in Git); age-keygen makes the tests' age keys.
TOOLS = {
    "helm": (HELM_MODULE, "cmd/helm", HELM_VERSION, _helm_flags(HELM_VERSION)),
    "sops": (SOPS_MODULE, "cmd/sops", SOPS_VERSION, "-s -w"),
    "age-keygen": (AGE_MODULE, "cmd/age-keygen", AGE_VERSION, f"-s -w -X main.Version={AGE_VERSION}"),
    # the OCI registry of go-containerregistry (pkg/registry) behind TLS and basic auth: tests/cluster/registry
    "registry": (None, "registry", None, "-s -w"),
    # the Prometheus server (github.com/prometheus/prometheus v0.316.0, its `tool` in tests/cluster/prometheus)
    "prometheus": (None, "prometheus", None, "-s -w"),
    # cosign signs the charts pushed to the registry, for the signature checks of OCI charts
    "cosign": (COSIGN_MODULE, "cmd/cosign", COSIGN_VERSION,
               f"-s -w -X sigs.k8s.io/release-utils/version.gitVersion={COSIGN_VERSION}"),
}


def build_tool(name: str) -> Path:
    """One of TOOLS, built with `go install` from its module when the cache lacks it.  Keyed like
    the control plane: the module's sum (which covers its go.sum), the toolchain, the flags."""
    module, package, version, flags = TOOLS[name]
    go_version = run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    if module is None:  # a module of this repository (tests/cluster/<package>): keyed by its files
        src = HERE / package
        key = hashlib.sha256(f"{go_version}\n{flags}\n".encode())
        for f in sorted(list(src.glob("*.go")) + [src / "go.mod", src / "go.sum"]):
            key.update(f.name.encode() + b"\0" + f.read_bytes())
        version = "local"
    else:
        info = json.loads(run(["go", "mod", "download", "-json", f"{module}@{version}"],
                              capture_output=True, text=True).stdout)
        if info.get("Error"):
            die(f"go mod download {module}@{version}: {info['Error']}")
        key = hashlib.sha256(f"{version}\n{info['Sum']}\n{info['GoModSum']}\n{go_version}\n{flags}\n".encode())
    out = cache_root() / name / f"{version}-{key.hexdigest()[:16]}"
    if (out / ".complete").exists():
        return out / name
    log(f"building {name} {version} into {out}")
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    if module is None:  # its main package, or the one `tool` its go.mod names
        tools = re.findall(r"^tool (\S+)$", (HERE / package / "go.mod").read_text(), re.M)
        run(["go", "build", "-trimpath", "-ldflags", flags, "-o", str(tmp / name), tools[0] if tools else "."],
            cwd=HERE / package, env=dict(os.environ, CGO_ENABLED="0"))
    else:
        run(["go", "install", "-trimpath", "-ldflags", flags, f"{module}/{package}@{version}"],
            env=dict(os.environ, CGO_ENABLED="0", GOBIN=str(tmp)))
    (tmp / ".complete").write_text(f"{name} {version} built in {time.monotonic() - started:.0f}s\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"{name} built in {time.monotonic() - started:.0f}s")
    return out / name


def link_tools(cdir: Path) -> None:
    """.cluster/bin/<tool> -> the cached build of each of TOOLS, for the tests and the benchmark."""
    for name in TOOLS:
        target = build_tool(name)
        link = cdir / "bin" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            if os.readlink(link) == str(target):
                continue
            link.unlink()
        link.symlink_to(target)


# --------------------------------------------------------------------------- PKI

def openssl(*args: str, cwd: Path) -> None:
    run(["openssl", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


OPENSSL_CNF = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_pki(pki: Path) -> None:
    """A CA, the API server's serving cert, client certs per component, the SA signing key.
    Extensions are explicit (key usage on the CA, CA:FALSE on leaves) so that strict X.509
    verification, Python 3.13's default, accepts them."""
    pki.mkdir(parents=True)
    (pki / "openssl.cnf").write_text(OPENSSL_CNF)
    common = ["-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-days", "3650"]
    openssl("req", "-x509", *common, "-extensions", "ca", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=gitops-core-local-ca", cwd=pki)
    certs = {
        "apiserver": ("/CN=kube-apiserver", "server"),
        "admin": ("/O=system:masters/CN=gitops-core-admin", "client"),
        "controller-manager": ("/CN=system:kube-controller-manager", "client"),
        "scheduler": ("/CN=system:kube-scheduler", "client"),
        "kwok": ("/O=system:masters/CN=kwok", "client"),
    }
    for name, (subject, profile) in certs.items():
        openssl("req", "-x509", *common, "-extensions", profile, "-CA", "ca.crt", "-CAkey", "ca.key",
                "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", subject, cwd=pki)
    openssl("req", "-x509", *common, "-extensions", "server", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-keyout", "oidc.key", "-out", "oidc.crt", "-subj", "/CN=gitops-core-oidc-issuer", cwd=pki)
    for name in ("sa", "oidc-signing"):
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{name}.key", cwd=pki)
        openssl("pkey", "-in", f"{name}.key", "-pubout", "-out", f"{name}.pub", cwd=pki)
    (pki / "oidc-jwks.json").write_text(json.dumps({"keys": [jwk(pki / "oidc-signing.key")]}))
    for key in pki.glob("*.key"):
        key.chmod(0o600)


OIDC_KID = "gitops-core-local"
OIDC_AUDIENCE = "gitops-core"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(private_key: Path) -> dict:
    """The public JSON Web Key of an RSA private key (modulus read by openssl)."""
    out = subprocess.run(["openssl", "rsa", "-in", str(private_key), "-noout", "-modulus"], check=True,
                         capture_output=True, text=True).stdout
    modulus = bytes.fromhex(out.strip().split("=", 1)[1])
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": OIDC_KID, "n": _b64url(modulus),
            "e": _b64url((65537).to_bytes(3, "big"))}


def authentication_config(path: Path, issuer: str, ca: Path, version: str) -> None:
    """Structured authentication configuration: a JWT authenticator trusting the local issuer
    (usernames and groups prefixed `oidc:`), beside client certificates and service accounts.
    Its API is v1 from Kubernetes 1.34 (GA), v1beta1 from 1.30 (beta, on by default)."""
    minor = int(version.lstrip("v").split(".")[1])
    path.write_text(json.dumps({
        "apiVersion": "apiserver.config.k8s.io/%s" % ("v1" if minor >= 34 else "v1beta1"),
        "kind": "AuthenticationConfiguration",
        "jwt": [{"issuer": {"url": issuer, "audiences": [OIDC_AUDIENCE], "certificateAuthority": ca.read_text()},
                 "claimMappings": {"username": {"claim": "sub", "prefix": "oidc:"},
                                   "groups": {"claim": "groups", "prefix": "oidc:"}}}]}, indent=2))


def kubeconfig(path: Path, server: str, pki: Path, user: str) -> None:
    cfg = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "gitops-core-local",
                      "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate": str(pki / f"{user}.crt"),
                                          "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "gitops-core-local", "context": {"cluster": "gitops-core-local", "user": user}}],
        "current-context": "gitops-core-local",
    }
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    path.chmod(0o600)


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCHED: dict[str, list[str]] = {}  # component -> argv, saved in state.json for `kill`/`restart`


def start(name: str, argv: list[str], logs: Path) -> int:
    """Start one component in its own session.  `kcp <component> ...` runs with argv[0] set to
    the component's name, so its user agent and field manager are the real component's."""
    LAUNCHED[name] = list(argv)
    executable = argv[0]
    if Path(executable).name == "kcp":
        argv = argv[1:]
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(argv, executable=executable, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Api:
    """Just enough of a client to wait for readiness and register nodes."""

    def __init__(self, server: str, pki: Path, user: str = "admin"):
        self.server = server
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / f"{user}.crt"), str(pki / f"{user}.key"))

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e)

    def ok(self, method: str, path: str) -> bool | str:
        """True on 200, else the status and body (a reason to report)."""
        code, body = self.call(method, path)
        return code == 200 or f"{method} {path}: {code} {body[:300]}"


def node_names(count: int) -> list[str]:
    return ["kwok-node-%d" % i for i in range(count)]


def register_nodes(api: Api, count: int, pids: dict[str, int], logs: Path) -> None:
    """At least `count` KWOK fake nodes, all Ready (KWOK manages every node with its annotation)."""
    names = node_names(count)
    for name in names:
        code, body = api.call("POST", "/api/v1/nodes", node_manifest(name))
        if code not in (201, 409):
            die(f"registering node {name}: HTTP {code}: {body[:300]}")

    def nodes_ready() -> bool | str:
        code, body = api.call("GET", "/api/v1/nodes")
        if code != 200:
            return f"GET nodes: {code} {body[:200]}"
        ready = {n["metadata"]["name"] for n in json.loads(body)["items"]
                 if any(c["type"] == "Ready" and c["status"] == "True"
                        for c in n.get("status", {}).get("conditions", []))}
        return ready >= set(names) or f"{len(ready & set(names))} of {len(names)} nodes Ready"

    wait_for("fake nodes Ready", nodes_ready, 60, pids, logs)


def wait_for(what: str, check, timeout: float, pids: dict[str, int], logs: Path) -> None:
    """Poll check() until it returns True; any other value is the reason it is not done yet,
    reported on timeout."""
    deadline = time.monotonic() + timeout
    reason = None
    while time.monotonic() < deadline:
        for name, pid in pids.items():
            if not alive(pid):
                tail = (logs / f"{name}.log").read_text(errors="replace")[-3000:]
                die(f"{name} exited while waiting for {what}; end of {logs / (name + '.log')}:\n{tail}")
        reason = check()
        if reason is True:
            return
        time.sleep(0.2)
    die(f"timed out after {timeout:.0f}s waiting for {what}: {reason} (logs in {logs})")


def node_manifest(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake",
                                                   "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok"}},
        "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                   "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                "kubeletVersion": "fake", "kubeProxyVersion": "fake"}},
    }


def read_state(cdir: Path) -> dict | None:
    try:
        return json.loads((cdir / "state.json").read_text())
    except (OSError, ValueError):
        return None


def running(state: dict | None) -> bool:
    return bool(state) and all(alive(pid) for pid in state["pids"].values())


def up() -> None:
    cdir = cluster_dir()
    state = read_state(cdir)
    if running(state):
        link_tools(cdir)
        log(f"already running ({state['version']}); kubeconfig: {cdir / 'kubeconfig'}")
        print(cdir / "kubeconfig")
        return
    if state or cdir.exists():
        down(quiet=True)
    version = resolve_version(os.environ.get("KUBE_VERSION"))
    bindir = build(version)
    t0 = time.monotonic()
    pki, logs = cdir / "pki", cdir / "logs"
    logs.mkdir(parents=True)
    link_tools(cdir)
    make_pki(pki)
    ports = {name: free_port() for name in ("etcd", "etcd_peer", "apiserver", "oidc")}
    server = f"https://127.0.0.1:{ports['apiserver']}"
    issuer = f"https://127.0.0.1:{ports['oidc']}"
    authentication_config(cdir / "authentication-config.json", issuer, pki / "ca.crt", version)
    for user in ("admin", "controller-manager", "scheduler", "kwok"):
        kubeconfig(cdir / ("kubeconfig" if user == "admin" else f"{user}.kubeconfig"), server, pki, user)
    kcp = str(bindir / "kcp")
    pids: dict[str, int] = {}
    state = {"version": version, "server": server, "ports": ports, "pids": pids, "bindir": str(bindir),
             "argv": LAUNCHED,
             "oidc": {"issuer": issuer, "audience": OIDC_AUDIENCE, "kid": OIDC_KID,
                      "signing_key": str(pki / "oidc-signing.key")}}

    def save() -> None:
        (cdir / "state.json").write_text(json.dumps(state, indent=2) + "\n")

    pids["oidc-issuer"] = start("oidc-issuer", [sys.executable, str(HERE / "oidc_issuer.py"), str(ports["oidc"]),
                                                str(pki / "oidc.crt"), str(pki / "oidc.key"),
                                                str(pki / "oidc-jwks.json")], logs)
    pids["etcd"] = start("etcd", [kcp, "etcd", f"--data-dir={cdir / 'etcd'}",
                                  f"--client-port={ports['etcd']}", f"--peer-port={ports['etcd_peer']}"], logs)
    save()
    etcd_health = f"http://127.0.0.1:{ports['etcd']}/health"
    wait_for("etcd", lambda: _http_ok(etcd_health) or "no answer on " + etcd_health, 60, pids, logs)
    discovery = issuer + "/.well-known/openid-configuration"
    issuer_ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    wait_for("the OIDC issuer", lambda: _http_ok(discovery, issuer_ctx) or "no answer on " + discovery, 30, pids, logs)

    pids["kube-apiserver"] = start("kube-apiserver", [
        kcp, "kube-apiserver",
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--authentication-config={cdir / 'authentication-config.json'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--allow-privileged=true",
        "--profiling=false",
    ], logs)
    save()
    api = Api(server, pki)
    wait_for("kube-apiserver /readyz", lambda: api.ok("GET", "/readyz"), 120, pids, logs)

    pids["kube-controller-manager"] = start("kube-controller-manager", [
        kcp, "kube-controller-manager",
        f"--kubeconfig={cdir / 'controller-manager.kubeconfig'}",
        f"--authentication-kubeconfig={cdir / 'controller-manager.kubeconfig'}",
        f"--authorization-kubeconfig={cdir / 'controller-manager.kubeconfig'}",
        "--leader-elect=false", "--secure-port=0",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
    ], logs)
    pids["kube-scheduler"] = start("kube-scheduler", [
        kcp, "kube-scheduler",
        f"--kubeconfig={cdir / 'scheduler.kubeconfig'}",
        f"--authentication-kubeconfig={cdir / 'scheduler.kubeconfig'}",
        f"--authorization-kubeconfig={cdir / 'scheduler.kubeconfig'}",
        "--leader-elect=false", "--secure-port=0",
    ], logs)
    pids["kwok"] = start("kwok", [
        str(bindir / "kwok"), f"--kubeconfig={cdir / 'kwok.kubeconfig'}",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}", "--node-ip=10.240.0.1", "--node-lease-duration-seconds=40",
        "--server-address=127.0.0.1:0",
        *[f"--config={p}" for p in sorted((bindir / "stages").glob("*.yaml"))],
    ], logs)
    save()

    register_nodes(api, NODES, pids, logs)
    wait_for("the default ServiceAccount",
             lambda: api.ok("GET", "/api/v1/namespaces/default/serviceaccounts/default"),
             60, pids, logs)
    state["startup_seconds"] = round(time.monotonic() - t0, 1)
    save()
    log(f"{version} up in {state['startup_seconds']}s at {server}; kubeconfig: {cdir / 'kubeconfig'}")
    print(cdir / "kubeconfig")


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def status() -> int:
    cdir = cluster_dir()
    state = read_state(cdir)
    if not running(state):
        log("not running")
        return 1
    rss = {name: rss_mib(pid) for name, pid in state["pids"].items()}
    print(json.dumps({"version": state["version"], "server": state["server"],
                      "kubeconfig": str(cdir / "kubeconfig"), "startup_seconds": state.get("startup_seconds"),
                      "rss_mib": {k: round(v, 1) for k, v in rss.items()},
                      "rss_mib_total": round(sum(rss.values()), 1)}, indent=2))
    return 0


def down(quiet: bool = False) -> None:
    cdir = cluster_dir()
    state = read_state(cdir) or {"pids": {}}
    # Stop in reverse start order: the API server last but one, etcd last.
    for name, pid in reversed(list(state["pids"].items())):
        if alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
    shutil.rmtree(cdir, ignore_errors=True)
    if not quiet:
        log("stopped; state removed")


def kill(name: str) -> None:
    """SIGKILL one component (fault tests: the API server or etcd dying mid-run)."""
    cdir = cluster_dir()
    state = read_state(cdir)
    if not state or name not in state["pids"]:
        die(f"no component {name!r} in {cdir}")
    pid = state["pids"][name]
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.05)
    log(f"{name} (pid {pid}) killed")


def restart(name: str) -> None:
    """Start one component again with the argv it was started with (killing it first if it runs)
    and wait until it serves: etcd's /health, the API server's /readyz."""
    cdir = cluster_dir()
    state = read_state(cdir)
    if not state or name not in state.get("argv", {}):
        die(f"no component {name!r} in {cdir}")
    if alive(state["pids"][name]):
        kill(name)
    logs = cdir / "logs"
    state["pids"][name] = start(name, state["argv"][name], logs)
    (cdir / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    t0 = time.monotonic()
    if name == "etcd":
        url = f"http://127.0.0.1:{state['ports']['etcd']}/health"
        wait_for("etcd", lambda: _http_ok(url) or "no answer on " + url, 60, state["pids"], logs)
    elif name == "kube-apiserver":
        api = Api(state["server"], cdir / "pki")
        wait_for("kube-apiserver /readyz", lambda: api.ok("GET", "/readyz"), 120, state["pids"], logs)
    log(f"{name} restarted (pid {state['pids'][name]}), serving after {time.monotonic() - t0:.1f}s")


def nodes(count: int) -> None:
    cdir = cluster_dir()
    state = read_state(cdir)
    if not state:
        die(f"no cluster in {cdir}: run `cluster.py up` first")
    register_nodes(Api(state["server"], cdir / "pki"), count, state["pids"], cdir / "logs")
    log(f"{count} fake nodes Ready")


def main() -> int:
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "build":
        print(build(resolve_version(os.environ.get("KUBE_VERSION"))))
        for name in TOOLS:
            print(build_tool(name))
    elif cmd in TOOLS:
        print(build_tool(cmd))
    elif cmd == "up":
        up()
    elif cmd == "down":
        down()
    elif cmd == "status":
        return status()
    elif cmd == "nodes" and len(sys.argv) == 3 and sys.argv[2].isdigit():
        nodes(int(sys.argv[2]))
    elif cmd in ("kill", "restart") and len(sys.argv) == 3:
        (kill if cmd == "kill" else restart)(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
