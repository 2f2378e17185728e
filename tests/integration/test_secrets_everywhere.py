"""One test plants a Git token (inside the repository URL), a kube bearer token, a client key and
Secret values, runs every module and the sync playbook through the normal, check, diff, drift,
remediate and failure paths at -vvv, and scans for each planted value and its base64 form: stdout
and stderr of every run, every registered result, the drift reports, every file of the Git cache
(its .git/config included) and every file Ansible left in its temporary folders.

A further Secret and a ConfigMap value are kept in Git encrypted with SOPS (age), and a ConfigMap value
with Ansible Vault (`!vault`, the runs given --vault-password-file), decrypted with `decryption` (the
sync role's `sync_decryption`): their plain values and the vault password are planted too.

A chart is fetched from a real OCI registry (TLS, basic auth) with a planted registry password (the play's
`credentials`), its cache folder scanned too; and the set's status on its inventory (the sync-status and
drift-status annotations set_info reads) is scanned.

One exception, by design: git_desired_state's registered `objects` carry the desired Secrets to
k8s_reconcile, so its task runs with `no_log: true` (as the sync role's does), and the scan skips
that one registered variable."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from chartservers import OCIRegistry, package, tls
from conftest import CLUSTER_DIR
from gitfixtures import GitHttpServer, Repo
from helpers import unique_name
from sopsfixtures import SopsKeys

pytestmark = pytest.mark.integration

GIT_TOKEN = "gitTok-PLANTED-7f3a9c21"
SECRET_VALUES = ("SECRET-PLANTED-pw-4821xq", "SECRET-PLANTED-key-9917zr", "SECRET-PLANTED-drifted-55qa")
VAULT_VALUE, VAULT_PASSWORD = "VAULT-PLANTED-value-81d3f0", "VAULT-PLANTED-password-c72e"
SOPS_VALUES = ("SOPS-PLANTED-secret-3c8e1a", "SOPS-PLANTED-config-7b2f9d", "SOPS-PLANTED-drifted-e40c55")
REGISTRY_PASSWORD = "REGISTRY-PLANTED-pw-5d1e77"
PODINFO = Path(__file__).resolve().parent / "charts" / "podinfo-6.14.1"


def forms(value: str) -> set[str]:
    raw = value.encode()
    return {value, base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")}


@pytest.fixture
def planted(tmp_path, kubectl, namespace):
    """The repository (served over HTTP with the token), the credentials and every planted value."""
    repo = Repo(tmp_path / "git")
    keys = SopsKeys(tmp_path / "sops-keys")
    vault_file = tmp_path / "vault-password"
    vault_file.write_text(VAULT_PASSWORD + "\n")
    vaulted = subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string", "--vault-password-file",
                              str(vault_file), "--stdin-name", "dsn"], input=VAULT_VALUE, capture_output=True, text=True,
                             check=True).stdout
    encrypted = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-creds", "namespace": namespace},
                  "stringData": {"token": SOPS_VALUES[0]}},
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sops-config", "namespace": namespace},
                  "data": {"dsn": "postgres://app:%s@db/app" % SOPS_VALUES[1]}}]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": namespace},
              "stringData": {"password": SECRET_VALUES[0]},
              "data": {"apikey": base64.b64encode(SECRET_VALUES[1].encode()).decode()}}
    repo.commit({"app/secret.yaml": yaml.safe_dump(secret),
                 "app/cm.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "plain", "namespace": namespace},
                                                "data": {"k": "v"}}),
                 "app/encrypted.sops.yaml": keys.encrypt(yaml.safe_dump_all(encrypted)),
                 "app/vaulted.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vaulted\n  namespace: %s\n"
                                     "data:\n  %s" % (namespace, vaulted.replace("\n", "\n  ").rstrip() + "\n")})
    server = GitHttpServer(repo.bare.parent, "deploy-bot", GIT_TOKEN)
    sa = "leak-" + uuid.uuid4().hex[:6]
    kubectl.run("-n", namespace, "create", "serviceaccount", sa)
    kubectl.run("create", "clusterrolebinding", sa, "--clusterrole=cluster-admin", f"--serviceaccount={namespace}:{sa}")
    bearer = kubectl.run("-n", namespace, "create", "token", sa).stdout.strip()
    pki = CLUSTER_DIR / "pki"
    key_pem = (pki / "admin.key").read_text()
    server_url = json.loads((CLUSTER_DIR / "state.json").read_text())["server"]
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
                  "clusters": [{"name": "c", "cluster": {"server": server_url,
                                                         "certificate-authority": str(pki / "ca.crt")}}],
                  "users": [{"name": "u", "user": {
                      "client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
                      "client-key-data": base64.b64encode(key_pem.encode()).decode()}}],
                  "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    key_body = "".join(key_pem.strip().splitlines()[1:-1])  # the key material itself
    values = {"git token": GIT_TOKEN, "bearer token": bearer, "client key": key_body,
              **{"secret value %d" % i: v for i, v in enumerate(SECRET_VALUES)},
              **{"SOPS-encrypted value %d" % i: v for i, v in enumerate(SOPS_VALUES)},
              "Vault-encrypted value": VAULT_VALUE, "vault password": VAULT_PASSWORD,
              "age private key": [line for line in keys.age.splitlines() if line.startswith("AGE-SECRET-KEY-")][0]}
    yield {"url": f"http://deploy-bot:{GIT_TOKEN}@127.0.0.1:{server.httpd.server_address[1]}/{repo.bare.name}",
           "auth_token": {"host": server_url, "api_key": bearer, "ca_cert": str(pki / "ca.crt")},
           "kubeconfig": kubeconfig, "values": values, "namespace": namespace, "age_key": keys.age,
           "vault_args": ("--vault-password-file", str(vault_file))}
    server.close()
    kubectl.run("delete", "clusterrolebinding", sa, check=False)


def scan(texts: dict[str, str], values: dict[str, str]) -> list[str]:
    found = []
    for where, text in texts.items():
        for what, value in values.items():
            for form in forms(value):
                if form in text:
                    found.append("%s found in %s" % (what, where))
    return found


def test_no_credential_or_secret_value_in_any_output_on_any_path(planted, ansible_playbook, kubectl, tmp_path):
    ns = planted["namespace"]
    set_name = unique_name("leak-", 6)
    cache, reports, ansible_tmp = tmp_path / "cache", tmp_path / "reports", tmp_path / "ansible-tmp"
    env = {"ANSIBLE_LOCAL_TEMP": str(ansible_tmp / "local"), "ANSIBLE_REMOTE_TMP": str(ansible_tmp / "remote")}
    common = {"set_name": set_name, "objects": "{{ desired.objects }}", "sources": "{{ desired.sources }}",
              "revision": "{{ desired.commit }}", "namespace": ns}
    token_auth = planted["auth_token"]
    certs = tls(tmp_path / "tls")
    (tmp_path / "registry").mkdir()
    registry = OCIRegistry(tmp_path / "registry", certs, "puller", REGISTRY_PASSWORD)
    registry.start()
    digest = registry.push(package(PODINFO, tmp_path / "built", tmp_path / "helm"), tmp_path / "helm")
    chart_cache = tmp_path / "chart-cache"
    values = dict(planted["values"], **{"registry password": REGISTRY_PASSWORD})
    play_vars = {"kc": planted["kubeconfig"], "repo_url": planted["url"], "age_key": planted["age_key"],
                 "registry_password": REGISTRY_PASSWORD}
    # credentials reach the plays as variables (an AWX credential, a vault), as in real jobs: Ansible
    # itself prints a failed task's playbook lines, so literals written there are the playbook's own

    def task(module, params, register, check=False, diff=False):
        extra = ("      check_mode: true\n" if check else "") + ("      diff: true\n" if diff else "")
        return ("    - name: %s\n      gitops.core.%s: %s\n      register: %s\n      ignore_errors: true\n%s"
                % (register, module, json.dumps(params), register, extra))

    pull = ("    - name: pull\n      gitops.core.git_desired_state: %s\n      register: desired\n      no_log: true\n"
            % json.dumps({"repo": "{{ repo_url }}", "dest": str(cache), "path": ["app"],
                          "decryption": {"age_keys": ["{{ age_key }}"]},
                          "credentials": {"registry": {"username": "puller", "password": "{{ registry_password }}",
                                                       "ca_file": str(certs["ca"])}},
                          "helm": {"release_namespace": ns, "cache_dir": str(chart_cache), "charts": [
                              {"repository": registry.url, "chart": "podinfo", "version": "6.14.1", "digest": digest,
                               "credentials": "registry"}]}}))
    first = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + pull + "".join([
        task("k8s_reconcile", dict(common, **token_auth), "preview", check=True, diff=True),
        task("k8s_reconcile", dict(common, kubeconfig="{{ kc }}"), "applied", diff=True),
        task("drift_check", dict(common, **token_auth), "clean"),
    ])
    runs = [ansible_playbook(first, extra_vars=play_vars, args=("-vvv", *planted["vault_args"]), env=env)]
    assert runs[0].results["applied"].get("failed") is not True, runs[0].results["applied"].get("msg")
    assert f"apps/Deployment {ns}/podinfo" in runs[0].results["applied"]["created"]  # the fetched chart
    assert kubectl.json("-n", ns, "get", "secret", "creds")["data"]["password"] == \
        base64.b64encode(SECRET_VALUES[0].encode()).decode()
    assert kubectl.json("-n", ns, "get", "configmap", "vaulted")["data"]["dsn"] == VAULT_VALUE
    assert kubectl.json("-n", ns, "get", "configmap", "sops-config")["data"]["dsn"] == "postgres://app:%s@db/app" % SOPS_VALUES[1]

    # drift a Secret value by hand, then report it, heal it, and fail on a Secret the API server refuses
    kubectl.run("-n", ns, "patch", "secret", "creds", "-p", json.dumps({"stringData": {"password": SECRET_VALUES[2]}}))
    kubectl.run("-n", ns, "patch", "configmap", "sops-config", "-p", json.dumps({"data": {"dsn": SOPS_VALUES[2]}}))
    bad_secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad", "namespace": ns},
                  "stringData": {"pin": 98765432101}}  # not a string: the API server quotes the value
    second = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + pull + "".join([
        task("drift_check", dict(common, report_dir=str(reports), fail_on_drift=True, **token_auth), "drifted"),
        task("drift_check", dict(common, remediate=True, fail_on_drift=False, kubeconfig="{{ kc }}"), "healed",
             diff=True),
        task("k8s_reconcile", {"set_name": set_name + "-bad", "namespace": ns, "objects": [bad_secret],
                               **token_auth}, "refused"),
    ])
    runs.append(ansible_playbook(second, extra_vars=play_vars, args=("-vvv", *planted["vault_args"]), env=env))
    results = runs[1].results
    assert results["drifted"]["failed"] and results["drifted"]["summary"]["modified"] == 2
    assert sorted(results["healed"]["healed"]["applied"]) == ["ConfigMap %s/sops-config" % ns, "Secret %s/creds" % ns]
    assert results["refused"]["failed"] and "98765432101" not in results["refused"]["msg"]

    # the sync playbook (role) with the token inside the URL
    kubeconfig_file = tmp_path / "kubeconfig.yaml"  # an input, not scanned
    home = tmp_path / "home"
    kubeconfig_file.write_text(yaml.safe_dump(planted["kubeconfig"]))
    runs.append(ansible_playbook(
        (Path(__file__).resolve().parents[2] / "playbooks" / "sync.yml").read_text(),
        extra_vars={"sync_repo": planted["url"], "sync_set_name": set_name, "sync_path": ["app"],
                    "sync_namespace": ns, "sync_kubeconfig": str(kubeconfig_file), "sync_report_dir": str(reports),
                    # as docs/awx/sops-age-credential.yml injects it: a JSON string naming the key's file
                    "sync_decryption": json.dumps({"age_key_file": str(tmp_path / "sops-keys" / "age.txt")})},
        args=("-vvv", *planted["vault_args"]), env=dict(env, HOME=str(home))))  # the role's Git cache goes under this HOME
    assert runs[2].rc == 0, runs[2].stdout[-3000:]

    registry.stop()
    inventory = kubectl.json("-n", "gitops-system", "get", "configmap", "gitops-set-" + set_name)
    assert {"gitops.core/sync-status", "gitops.core/drift-status"} <= set(inventory["metadata"]["annotations"])
    texts = {"the set's inventory (its status)": json.dumps(inventory)}
    for i, run in enumerate(runs):
        texts["run %d stdout" % i] = run.stdout
        texts["run %d stderr" % i] = run.stderr
        for name, result in run.results.items():
            if name == "desired":
                result = {k: v for k, v in result.items() if k != "objects"}
            texts["run %d result %s" % (i, name)] = json.dumps(result)
    for folder in (cache, reports, ansible_tmp, home, chart_cache):
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file() and path.stat().st_size < 50_000_000:
                    texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert len(texts) > 20, sorted(texts)  # the scan did see the cache and the reports
    assert (cache / ".git" / "config").exists() and any(k.startswith(str(reports)) for k in texts)
    assert any(k.startswith(str(chart_cache)) for k in texts)  # the chart cache was scanned
    assert any(k.startswith(str(home / ".cache")) and k.endswith("/.git/config") for k in texts), sorted(texts)
    # A cache's checkout and Git objects hold the repository's own files, Secret manifests included: that
    # is the repository, not a leak.  Everything else (the cache's .git/config, refs, logs and state, the
    # reports, Ansible's leftovers, outputs and results) is scanned for everything.
    checkout = {"app/secret.yaml", "app/cm.yaml"}
    leaks = scan({k: v for k, v in texts.items()
                  if "/.git/objects/" not in k and not any(k.endswith("/" + f) for f in checkout)}, values)
    assert not leaks, leaks
