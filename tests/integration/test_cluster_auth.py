"""Cluster access through the official kubernetes client against the real control plane: exec
plugins (token, client certificate), a real forward proxy (option, kubeconfig proxy-url,
no_proxy), impersonation under RBAC, every K8S_AUTH_* name and alias, a kubeconfig dict with a
private key never echoed, and one clear error for 401."""
from __future__ import annotations

import base64
import json
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from helpers import cm, ok, unique_name
from lockstep import Lockstep

pytestmark = pytest.mark.integration
# the tests that run playbooks through run_task are lockstep cases: their runs share ansible-playbook start-ups
# (lockstep.py)
lockstep = Lockstep()


def whoami(params):
    """(username, groups) the API server sees for these auth options: a real SelfSubjectReview
    through the collection's own client."""
    from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
    from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import Client
    client = Client(kubeconfig.load(params), 1)
    try:
        _status, doc = client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                      body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    finally:
        client.close()
    info = doc["status"]["userInfo"]
    return info["username"], info.get("groups") or []


@lockstep.fixture(scope="module")
def pki(cluster_state, kubeconfig):
    return kubeconfig.parent / "pki"


@lockstep.fixture(scope="module")
def server(cluster_state):
    return cluster_state["server"]


def kubeconfig_dict(server: str, ca: Path, user: dict, cluster_extra: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": dict({"server": server, "certificate-authority": str(ca)},
                                                       **(cluster_extra or {}))}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def kubeconfig_with(path: Path, server: str, ca: Path, user: dict, cluster_extra: dict | None = None) -> str:
    path.write_text(yaml.safe_dump(kubeconfig_dict(server, ca, user, cluster_extra)))
    return str(path)


def exec_plugin(tmp_path: Path, status: dict) -> dict:
    """A real exec credential plugin: a script printing an ExecCredential with `status`."""
    script = tmp_path / f"plugin-{uuid.uuid4().hex[:6]}.py"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}
    script.write_text("#!%s\nimport json, os, sys\nassert os.environ.get('KUBERNETES_EXEC_INFO')\n"
                      "print(json.dumps(%r))\n" % (sys.executable, credential))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script),
                     "interactiveMode": "Never"}}


@lockstep.fixture
def service_account(kubectl, namespace):
    """A service account of the test namespace bound to `view` cluster-wide; returns (name, token)."""
    name = "sa-" + uuid.uuid4().hex[:6]
    kubectl.run("-n", namespace, "create", "serviceaccount", name)
    binding = f"{namespace}-{name}"
    kubectl.run("create", "clusterrolebinding", binding, "--clusterrole=view", f"--serviceaccount={namespace}:{name}")
    yield name, kubectl.run("-n", namespace, "create", "token", name).stdout.strip()
    kubectl.run("delete", "clusterrolebinding", binding, check=False)


def future(seconds=3600):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


# ------------------------------------------------------------------ exec credential plugins

@lockstep.case
def test_exec_plugin_token_authenticates(tmp_path, server, pki, namespace, service_account, run_task):
    name, token = service_account
    path = kubeconfig_with(tmp_path / "kc", server, pki / "ca.crt",
                           exec_plugin(tmp_path, {"token": token, "expirationTimestamp": future()}))
    assert whoami({"kubeconfig": path})[0] == f"system:serviceaccount:{namespace}:{name}"
    r = ok(run_task("drift_check", {"set_name": unique_name("x", 8), "kubeconfig": path,
                                    "objects": [cm("a", namespace)], "fail_on_drift": False}))
    assert r["summary"]["missing"] == 1 and token not in json.dumps(r) + r["_stdout"]


def test_exec_plugin_client_certificate_authenticates(tmp_path, server, pki, namespace):
    user = f"exec-cert-{namespace}"
    key, csr, crt = tmp_path / "u.key", tmp_path / "u.csr", tmp_path / "u.crt"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", f"/O=exec-team/CN={user}"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey",
                    str(pki / "ca.key"), "-CAcreateserial", "-out", str(crt), "-days", "1"], check=True,
                   capture_output=True)
    status = {"clientCertificateData": crt.read_text(), "clientKeyData": key.read_text(),
              "expirationTimestamp": future()}
    path = kubeconfig_with(tmp_path / "kc", server, pki / "ca.crt", exec_plugin(tmp_path, status))
    username, groups = whoami({"kubeconfig": path})
    assert username == user and "exec-team" in groups


@lockstep.case
def test_oidc_auth_provider_sends_its_id_token(tmp_path, server, pki, namespace, service_account, run_task):
    """`auth-provider: oidc` (refused before as 'removed') is loaded by the kubernetes package: an
    unexpired id-token is sent as the bearer token.  The id-token here is a JWT the cluster itself
    signed (a service account token), so the API server can check it without a separate issuer."""
    name, token = service_account
    user = {"auth-provider": {"name": "oidc", "config": {"client-id": "gitops-core", "id-token": token,
                                                         "idp-issuer-url": "https://issuer.example.invalid"}}}
    path = kubeconfig_with(tmp_path / "kc", server, pki / "ca.crt", user)
    assert whoami({"kubeconfig": path})[0] == f"system:serviceaccount:{namespace}:{name}"
    r = ok(run_task("drift_check", {"set_name": unique_name("x", 8), "kubeconfig": path,
                                    "objects": [cm("a", namespace)], "fail_on_drift": False}))
    assert r["summary"]["missing"] == 1


def id_token(oidc: dict, subject: str, groups: list[str], lifetime: int = 600) -> str:
    """An id-token from the control plane's local OIDC issuer: a JWT signed RS256 by openssl with
    the issuer's key, for the audience the API server's JWT authenticator expects."""
    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": oidc["kid"]}).encode())
    claims = b64url(json.dumps({"iss": oidc["issuer"], "aud": oidc["audience"], "sub": subject, "groups": groups,
                                "iat": now, "nbf": now - 5, "exp": now + lifetime}).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", oidc["signing_key"]],
                               input=f"{header}.{claims}".encode(), capture_output=True, check=True).stdout
    return f"{header}.{claims}.{b64url(signature)}"


@lockstep.case
def test_oidc_with_the_api_servers_jwt_authenticator(tmp_path, cluster_state, server, pki, namespace, run_task):
    """The API server trusts the local issuer (structured authentication configuration); an
    `auth-provider: oidc` kubeconfig carrying a signed id-token authenticates as that user."""
    oidc = cluster_state["oidc"]
    subject = f"jane-{namespace}"
    token = id_token(oidc, subject, ["devs"])
    user = {"auth-provider": {"name": "oidc", "config": {"client-id": oidc["audience"], "id-token": token,
                                                         "idp-issuer-url": oidc["issuer"]}}}
    path = kubeconfig_with(tmp_path / "kc", server, pki / "ca.crt", user)
    assert whoami({"kubeconfig": path}) == (f"oidc:{subject}", ["oidc:devs", "system:authenticated"])
    # through a module: the user has no rights, and the API server names it
    r = run_task("drift_check", {"set_name": unique_name("x", 8), "kubeconfig": path,
                                 "objects": [cm("a", namespace)]})
    assert r["failed"] and f'User "oidc:{subject}" cannot' in r["msg"] and token not in json.dumps(r) + r["_stdout"]
    # a token signed by another key is rejected: the authenticator really verifies
    forged = token.rsplit(".", 1)[0] + "." + id_token(dict(oidc, signing_key=str(pki / "sa.key")), subject,
                                                      ["devs"]).rsplit(".", 1)[1]
    user["auth-provider"]["config"]["id-token"] = forged
    with pytest.raises(Exception, match="401 Unauthorized"):
        whoami({"kubeconfig": kubeconfig_with(tmp_path / "forged", server, pki / "ca.crt", user)})


# ------------------------------------------------------------------ a real forward proxy

@lockstep.fixture
def proxy(tmp_path):
    """proxy.py, a real forward proxy, on a free loopback port; yields (url, count of CONNECTs so far)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "proxy.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "proxy"), "--hostname", "127.0.0.1", "--port", str(port),
                             "--num-workers", "1", "--num-acceptors", "1", "--log-file", str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("proxy.py did not start")

    def connects():
        return log.read_text().count(" - CONNECT ") if log.exists() else 0

    yield f"http://127.0.0.1:{port}", connects
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.slow
@lockstep.case
def test_proxy_option_and_kubeconfig_proxy_url_carry_the_traffic_and_no_proxy_bypasses(
        tmp_path, server, pki, kubeconfig, namespace, proxy, run_task):
    url, connects = proxy
    task = {"set_name": unique_name("x", 8), "objects": [cm("a", namespace)], "fail_on_drift": False}
    ok(run_task("drift_check", dict(task, kubeconfig=str(kubeconfig), proxy=url)))
    via_option = connects()
    assert via_option >= 1
    admin = {"client-certificate": str(pki / "admin.crt"), "client-key": str(pki / "admin.key")}
    with_url = kubeconfig_with(tmp_path / "kc", server, pki / "ca.crt", admin, {"proxy-url": url})
    ok(run_task("drift_check", dict(task, kubeconfig=with_url)))
    via_url = connects()
    assert via_url > via_option
    ok(run_task("drift_check", dict(task, kubeconfig=with_url, proxy=url, no_proxy="127.0.0.1")))
    assert connects() == via_url


@lockstep.case
def test_a_proxy_that_is_down_is_a_clear_error(kubeconfig, namespace, run_task):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_task("drift_check", {"set_name": unique_name("x", 8), "kubeconfig": str(kubeconfig),
                                 "objects": [cm("a", namespace)], "proxy": f"http://127.0.0.1:{port}"})
    assert r["failed"] and f"http://127.0.0.1:{port}" in r["msg"]


# ------------------------------------------------------------------ impersonation

@lockstep.case
def test_impersonation_within_rbac(kubectl, namespace, service_account, server, pki, run_task):
    name, token = service_account
    allowed, other = f"allowed-{namespace}", f"other-{namespace}"
    role = f"{namespace}-impersonate"
    kubectl.run("create", "clusterrole", role, "--verb=impersonate", "--resource=users,groups",
                f"--resource-name={allowed}", "--resource-name=team-a", "--resource-name=team-b")
    kubectl.run("create", "clusterrolebinding", role, f"--clusterrole={role}", f"--serviceaccount={namespace}:{name}")
    kubectl.run("create", "clusterrolebinding", f"{role}-view", "--clusterrole=view", f"--user={allowed}")
    try:
        auth = {"host": server, "api_key": token, "ca_cert": str(pki / "ca.crt")}
        assert whoami(dict(auth, impersonate_user=allowed, impersonate_groups=["team-a", "team-b"])) == (
            allowed, ["team-a", "team-b", "system:authenticated"])
        task = {"set_name": unique_name("x", 8), "objects": [cm("a", namespace)], "fail_on_drift": False}
        ok(run_task("drift_check", dict(task, impersonate_user=allowed, **auth)))
        refused = run_task("drift_check", dict(task, impersonate_user=other, **auth))
        assert refused["failed"] and "forbidden" in refused["msg"] and f'"{other}"' in refused["msg"]
        assert "impersonate_user" in refused["msg"] and token not in json.dumps(refused) + refused["_stdout"]
    finally:
        for binding in (role, f"{role}-view"):
            kubectl.run("delete", "clusterrolebinding", binding, check=False)
        kubectl.run("delete", "clusterrole", role, check=False)


# ------------------------------------------------------------------ K8S_AUTH_* names and aliases

ENV_CASES = ("proxy", "no_proxy", "wrong_ca", "insecure", "kubeconfig", "impersonate")
# One playbook, one task per case: a task's `environment:` is what its module process sees, so each case
# gets exactly its own K8S_AUTH_* variables (ansible-playbook itself has none), one start-up for all.
ENV_PLAY = """
- name: Drift checks with credentials from the environment only
  hosts: localhost
  gather_facts: false
  tasks:
""" + "".join("""
    - name: Check with the %(case)s variables
      gitops.core.drift_check: {set_name: "{{ set_name }}", objects: [], fail_on_drift: false}
      environment: "{{ envs.%(case)s }}"
      register: %(case)s
      ignore_errors: true
""" % {"case": case} for case in ENV_CASES)


@pytest.mark.parametrize("names", [
    {"host": "K8S_AUTH_HOST", "client_cert": "K8S_AUTH_CLIENT_CERT", "client_key": "K8S_AUTH_CLIENT_KEY",
     "ca_cert": "K8S_AUTH_CA_CERT", "validate_certs": "K8S_AUTH_VALIDATE_CERTS"},
    {"host": "K8S_AUTH_HOST", "client_cert": "K8S_AUTH_CERT_FILE", "client_key": "K8S_AUTH_KEY_FILE",
     "ca_cert": "K8S_AUTH_SSL_CA_CERT", "validate_certs": "K8S_AUTH_VERIFY_SSL"},
], ids=["names", "aliases"])
def test_every_option_reads_its_k8s_auth_variables(names, ansible_playbook, server, pki, kubeconfig, proxy,
                                                   service_account, namespace):
    url, connects = proxy
    name, token = service_account
    with socket.socket() as s:  # a port nothing listens on: a proxy that is down
        s.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {names["host"]: server, names["client_cert"]: str(pki / "admin.crt"),
           names["client_key"]: str(pki / "admin.key"), names["ca_cert"]: str(pki / "ca.crt"),
           names["validate_certs"]: "true"}
    wrong_ca = dict(env, **{names["ca_cert"]: str(pki / "admin.crt")})
    envs = {
        "proxy": dict(env, K8S_AUTH_PROXY=url, K8S_AUTH_NO_PROXY="example.invalid"),
        # only K8S_AUTH_NO_PROXY keeps this run off a proxy that is down
        "no_proxy": dict(env, K8S_AUTH_PROXY=dead_proxy, K8S_AUTH_NO_PROXY="127.0.0.1"),
        "wrong_ca": wrong_ca,  # must fail: the CA variable is really used
        "insecure": dict(wrong_ca, **{names["validate_certs"]: "false"}),  # accepts any server certificate
        "kubeconfig": {"K8S_AUTH_KUBECONFIG": str(kubeconfig), "K8S_AUTH_CONTEXT": "gitops-core-local"},
        "impersonate": {"K8S_AUTH_HOST": server, "K8S_AUTH_API_KEY": token, "K8S_AUTH_CA_CERT": str(pki / "ca.crt"),
                        "K8S_AUTH_IMPERSONATE_USER": "nobody-" + namespace, "K8S_AUTH_IMPERSONATE_GROUPS": "g1,g2"},
    }
    assert set(envs) == set(ENV_CASES)
    run = ansible_playbook(ENV_PLAY, extra_vars={"envs": envs, "set_name": unique_name("x", 8)})
    r = run.results
    for case in ("proxy", "no_proxy", "insecure", "kubeconfig"):
        assert not r[case].get("failed"), (case, r[case].get("msg"))
    assert connects() >= 1  # K8S_AUTH_PROXY was read (only the proxy case has a live proxy)
    assert r["wrong_ca"]["failed"] and "TLS" in r["wrong_ca"]["msg"]
    assert r["impersonate"]["failed"] and "impersonate" in r["impersonate"]["msg"]
    assert token not in run.stdout + json.dumps(r)


# ------------------------------------------------------------------ secrets and errors

@pytest.mark.compat
def test_a_kubeconfig_dict_with_a_private_key_is_never_echoed(ansible_playbook, server, pki, namespace):
    key_pem = (pki / "admin.key").read_text()
    user = {"client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
            "client-key-data": base64.b64encode(key_pem.encode()).decode()}
    config = kubeconfig_dict(server, pki / "ca.crt", user)
    play = """
- name: Kubeconfig as a dict
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check
      gitops.core.drift_check:
        set_name: %s
        kubeconfig: "{{ kc }}"
        objects: [%s]
        fail_on_drift: false
      register: r
    - name: Fail on purpose with the dict
      gitops.core.drift_check:
        set_name: "Not A Valid Name"
        kubeconfig: "{{ kc }}"
        objects: []
      register: bad
      ignore_errors: true
""" % (unique_name("x", 8), json.dumps(cm("a", namespace)))
    run = ansible_playbook(play, extra_vars={"kc": config}, args=("-vvv",))
    assert run.rc == 0, run.stdout[-3000:]
    for name in ("r", "bad"):  # what a later task, a callback or AWX's job events see
        if "invocation" in run.results[name]:  # ansible-core 2.17 returns it; newer lines drop it
            assert run.results[name]["invocation"]["module_args"]["kubeconfig"] == \
                "(a kubeconfig given as a dict; not shown)"
    everything = run.stdout + run.stderr + json.dumps(run.results)
    body = "".join(line for line in key_pem.splitlines() if "PRIVATE KEY" not in line)
    for secret in (user["client-key-data"], body[:64], body[-64:]):
        assert secret not in everything


def test_a_rejected_token_is_one_clear_error_without_retries(server, pki):
    from ansible_collections.gitops.core.plugins.module_utils.cluster import kubeconfig
    from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
    from ansible_collections.gitops.core.plugins.module_utils.cluster.discovery import Discovery
    from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import Client
    client = Client(kubeconfig.load({"host": server, "api_key": "expired-or-wrong", "ca_cert": str(pki / "ca.crt")}), 1)
    with pytest.raises(GitOpsError) as err:
        Discovery(client).discover()
    assert f"the API server rejected the credentials from host {server} (401 Unauthorized)" in err.value.message
    assert "expired-or-wrong" not in err.value.message
    assert client.counts == {"discovery": 1}
