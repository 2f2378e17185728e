"""Decrypted fields (decrypted.py) and the SOPS helpers that need no sops binary (sops.py): which
fields are named, how every output hides them, the private folder's lifetime (a real SIGTERM)."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, sanitize
from ansible_collections.gitops.core.plugins.module_utils.observe import compare
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import sops
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

import tools

ANNOTATION = "gitops.core/decrypted-fields"
TOKEN = "tok-5a9c1e77d2"


def deployment(token=TOKEN):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "x"},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:1", "env": [
                {"name": "MODE", "value": "plain"}, {"name": "URL", "value": "postgres://app:%s@db/app" % token}]}]}}}}


def test_mark_names_each_field_holding_a_decrypted_value_and_never_the_value():
    obj = decrypted.mark(deployment(), sanitize.forms_of({TOKEN}), "chart/templates/deploy.yaml")
    listed = json.loads(obj["metadata"]["annotations"][ANNOTATION])
    assert listed == ["spec.template.spec.containers[0].env[1].value"]
    assert TOKEN not in obj["metadata"]["annotations"][ANNOTATION]
    assert decrypted.values(obj) == {"postgres://app:%s@db/app" % TOKEN}


def test_exact_paths_and_secrets_data_left_to_the_secret_rule():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"pw": "x"}}
    assert decrypted.mark(secret, set(), "db.yaml", exact=[("stringData", "pw")]) == secret  # no annotation
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    decrypted.mark(cm, set(), "c.yaml", exact=[("data", "b")])
    assert decrypted.fields(cm) == {"data.b"}


def test_an_encrypted_name_is_refused_naming_the_field_and_an_equal_one_is_not():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "secret-name-123"}}
    with pytest.raises(GitOpsError) as err:
        decrypted.mark(obj, set(), "c.yaml, document 1", exact=[("metadata", "name")])
    assert "c.yaml, document 1: metadata.name was encrypted; names are shown in every result" in err.value.message
    assert "secret-name-123" not in err.value.message
    # a value that only equals the name (a user called like the object) leaves the name as it is
    assert decrypted.fields(decrypted.mark(obj, {"secret-name-123"}, "c.yaml")) == frozenset()


def test_short_values_are_matched_whole_only():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "ab", "b": "abc"}}
    decrypted.mark(obj, {"ab"}, "c.yaml")
    assert decrypted.fields(obj) == {"data.a"}


def test_one_threshold_a_short_password_inside_a_url_is_hidden():
    """A value as long as the message masking's threshold is hidden inside another field too (it was 8 there:
    a 5-character password inside a connection string was shown)."""
    url = "postgres://app:pw5ch@db/app"
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"url": url, "mode": "x"}}
    decrypted.mark(obj, sanitize.forms_of({"pw5ch"}), "c.yaml")
    assert decrypted.fields(obj) == {"data.url"}
    message = sanitize.scrub(obj, "bad value %r" % url)
    assert "pw5ch" not in message and "(hidden)" in message


def test_every_output_hides_the_fields():
    desired = decrypted.mark(deployment(), sanitize.forms_of({TOKEN}), "d.yaml")
    live = deployment("changed-by-hand-1")
    live["metadata"]["annotations"] = dict(desired["metadata"]["annotations"])  # applied with the object
    shown = compare.describe(compare.diff(desired, live), "Deployment", desired)
    assert shown == [{"path": "spec.template.spec.containers[name=api].env[name=URL].value", "desired": "(hidden)",
                      "live": "(hidden)", "note": "changed (values hidden)"}]
    masked = sanitize.mask_secret(desired)
    assert TOKEN not in json.dumps(masked) and desired["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "plain"
    # the API server quotes a field's value in its errors: a message about the object is scrubbed of it
    assert sanitize.scrub(desired, "invalid value 'postgres://app:%s@db/app'" % TOKEN) == "invalid value (hidden)"
    # a whole container replaced: the diff holds the hidden field, so it is hidden whole
    live["spec"]["template"]["spec"]["containers"][0]["env"] = []
    shown = compare.describe(compare.diff(desired, live), "Deployment", desired)
    by_path = {d["path"].rsplit(".", 1)[-1]: d["desired"] for d in shown}
    assert by_path == {"env[name=URL]": "(hidden)", "env[name=MODE]": {"name": "MODE", "value": "plain"}}, shown


def test_encrypted_leaves_and_recipients():
    cipher = {"kind": "Secret", "stringData": {"a": "ENC[AES256_GCM,data:x,type:str]", "b": "clear"},
              "sops": {"age": [{"recipient": "age1abc"}], "pgp": [{"fp": "F00D"}], "mac": "ENC[AES256_GCM,m]"}}
    plain = {"kind": "Secret", "stringData": {"a": "secret-a", "b": "clear"}}
    assert list(sops.encrypted_leaves(cipher, plain)) == [(("stringData", "a"), "secret-a")]
    assert sops.recipients(cipher["sops"]) == "age age1abc, PGP F00D"
    assert sops.looks_encrypted("a: ENC[AES256_GCM,data:x]\nsops:\n  mac: y\n")
    assert not sops.looks_encrypted("a: b\n")


def test_without_decryption_an_encrypted_file_is_refused_naming_it():
    with sops.Decryption(None, None) as decryption:
        with pytest.raises(GitOpsError) as err:
            decryption.decrypt("apps/db.yaml", text="x")
    assert "apps/db.yaml is SOPS-encrypted; give `decryption`" in err.value.message


def test_a_missing_sops_binary_is_an_error_only_when_a_file_needs_it():
    def runner(args, **_kwargs):  # ModuleRunner's answer when the command is not on PATH
        raise GitOpsError("'%s' is not installed (not found on PATH)" % args[0])
    with sops.Decryption(runner, {}) as decryption:  # nothing encrypted: no sops call, no error
        assert decryption.masked_values() == set()
        with pytest.raises(GitOpsError) as err:
            decryption.decrypt("apps/db.yaml", text="ciphertext")
    assert err.value.message == ("apps/db.yaml is SOPS-encrypted and decrypting it needs sops: 'sops' is not "
                                 "installed (not found on PATH)")


CHILD = """
import sys, time
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import sops
with sops.Decryption(None, {"age_keys": ["AGE-SECRET-KEY-1TEST"]}) as d:
    print(d.folder, flush=True)
    time.sleep(60)
"""


def test_the_private_folder_is_removed_on_sigterm(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env)
    folder = child.stdout.readline().strip()
    assert os.path.isfile(os.path.join(folder, "age-keys.txt"))
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) != 0
    assert not os.path.exists(folder) and not list(tmp_path.iterdir())


def _vault_encrypt(plain: str, password: str, vault_id: str | None = None) -> str:
    """ansible-core's own VaultLib (the controller side, the reference) encrypts."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    secret = VaultSecret(password.encode())
    return VaultLib([(vault_id or "default", secret)]).encrypt(plain, secret, vault_id=vault_id).decode()


def test_vault_envelopes_made_by_ansible_core_open_with_the_right_secret_only():
    from ansible_collections.gitops.core.plugins.module_utils.source.secrets import vault
    v11 = _vault_encrypt("kind: Secret\n", "pw-one")
    v12 = _vault_encrypt("token-9c1e", "pw-prod", vault_id="prod")
    assert v11.startswith("$ANSIBLE_VAULT;1.1;AES256") and v12.startswith("$ANSIBLE_VAULT;1.2;AES256;prod")
    secrets = vault.Vault([{"id": "prod", "secret": "pw-prod"}, {"id": "default", "secret": "pw-one"}])
    assert secrets.decrypt(v11, "a.yaml") == "kind: Secret\n"
    assert secrets.decrypt(v12, "b.yaml") == "token-9c1e"
    with pytest.raises(GitOpsError) as err:
        vault.Vault([{"id": "default", "secret": "pw-one"}]).decrypt(v12, "b.yaml")
    assert err.value.message == "b.yaml: no vault secret of the play opens it (vault id 'prod')"
    with pytest.raises(GitOpsError) as err:
        vault.Vault([]).decrypt(v11, "a.yaml")
    assert "the play has no vault secret" in err.value.message
    with pytest.raises(GitOpsError) as err:
        secrets.decrypt(v11.replace("AES256", "AES128"), "c.yaml")
    assert "not a valid Ansible Vault envelope" in err.value.message


def test_vault_values_are_replaced_and_their_paths_named():
    from ansible_collections.gitops.core.plugins.module_utils.source.secrets import vault
    from ansible_collections.gitops.core.plugins.module_utils.common import yamlsafe
    secrets = vault.Vault([{"id": "default", "secret": "pw"}])
    doc = {"kind": "Secret", "stringData": {"a": yamlsafe.VaultValue(_vault_encrypt("s3cret-a", "pw"), 5), "b": "x"}}
    data, paths = vault.decrypt_values(doc, secrets, "s.yaml, document 1")
    assert data["stringData"] == {"a": "s3cret-a", "b": "x"} and paths == [("stringData", "a")]
    assert list(vault.leaf_paths({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                  "data": {"k": "v", "l": ["x"]}})) == [("data", "k"), ("data", "l", 0)]


# ------------------------------------------------------------------ with the real sops and age-keygen
def _tool(name):
    """`name` on PATH, else as tests/cluster/cluster.py builds it into its cache; None when neither."""
    found = shutil.which(name)
    cache = Path(os.environ.get("GITOPS_CORE_CACHE") or Path.home() / ".cache" / "gitops-core")
    built = sorted(glob.glob(str(cache / name / "*" / name)))
    return found or (built[-1] if built else None)


SOPS, AGE_KEYGEN = _tool("sops"), _tool("age-keygen")
needs_sops = pytest.mark.skipif(not (SOPS and AGE_KEYGEN and shutil.which("gpg")),
                                reason="needs sops and age-keygen (python3 tests/cluster/cluster.py sops age-keygen)")


def run(args, cwd=None, env=None, data=None, timeout=None):
    """runner.ModuleRunner's contract, with the sops built for the tests."""
    return tools.run(args, cwd, env, data, timeout, binaries={"sops": SOPS})


SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2-plain}\n"


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    """Two age keys (`ours`: the one `decryption` names; `machine`: one the machine has) and files
    encrypted for each, encrypted with an environment of its own."""
    root = tmp_path_factory.mktemp("sops")
    keys = {}
    for name in ("ours", "machine"):
        subprocess.run([AGE_KEYGEN, "-o", str(root / name)], check=True, capture_output=True)
        text = (root / name).read_text()
        recipient = next(line.split(": ")[1] for line in text.splitlines() if line.startswith("# public key: "))
        encrypted = subprocess.run([SOPS, "encrypt", "--age", recipient, "--input-type", "yaml", "--output-type", "yaml",
                                    "--encrypted-regex", "^stringData$", "/dev/stdin"], input=SECRET.encode(), cwd=root,
                                   env={"PATH": os.environ["PATH"], "HOME": str(root)}, capture_output=True, check=True)
        (root / ("%s.sops.yaml" % name)).write_bytes(encrypted.stdout)
        keys[name] = {"key": text, "file": str(root / ("%s.sops.yaml" % name)), "recipient": recipient}
    return keys


def _place(where, key, home, monkeypatch):
    """Give the machine `key` the way `where` says, in a fake HOME: sops' own places to look."""
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(name, raising=False)
    config = home / ("xdg" if where == "XDG_CONFIG_HOME" else ".config")
    (config / "sops" / "age").mkdir(parents=True)
    (config / "sops" / "age" / "keys.txt").write_text(key)
    if where == "XDG_CONFIG_HOME":
        monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    elif where == "SOPS_AGE_KEY":
        monkeypatch.setenv("SOPS_AGE_KEY", key)
    elif where in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        (home / ".config" / "sops" / "age" / "keys.txt").unlink()
        (home / "elsewhere.txt").write_text(key)
        monkeypatch.setenv(where, str(home / "elsewhere.txt") if where == "SOPS_AGE_KEY_FILE"
                           else "cat %s" % (home / "elsewhere.txt"))


@needs_sops
@pytest.mark.parametrize("where", ["~/.config/sops/age/keys.txt", "XDG_CONFIG_HOME", "SOPS_AGE_KEY_FILE",
                                   "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"])
def test_named_keys_are_the_only_keys_sops_uses(machine, where, tmp_path, monkeypatch):
    """Before: sops also found the machine's own age keys, so a file no key of `decryption` opens was decrypted."""
    _place(where, machine["machine"]["key"], tmp_path / "home", monkeypatch)
    with sops.Decryption(run, {}) as decryption:  # no key named: the machine's key is found (the fake HOME works)
        assert "hunter2-plain" in decryption.decrypt("machine.sops.yaml", path=machine["machine"]["file"])
    with sops.Decryption(run, {"age_keys": [machine["ours"]["key"]]}) as decryption:
        assert "hunter2-plain" in decryption.decrypt("ours.sops.yaml", path=machine["ours"]["file"])
        with pytest.raises(GitOpsError) as err:
            decryption.decrypt("machine.sops.yaml", path=machine["machine"]["file"])
    assert err.value.message == ("machine.sops.yaml: no key of `decryption` fits; it is encrypted for age %s"
                                 % machine["machine"]["recipient"])


@pytest.fixture(scope="module")
def pgp_key():
    """(fingerprint, armored secret key, GnuPG home holding it) of a key made for the test."""
    with tools.gpg_key() as (fingerprint, _public, secret, home):
        yield fingerprint, secret, home


@needs_sops
def test_pgp_keys_decrypt_in_their_own_home_and_the_machines_gnupg_home_is_not_used(
        machine, pgp_key, tmp_path, monkeypatch):
    fingerprint, secret, machine_home = pgp_key
    pgp_file = tmp_path / "pgp.sops.yaml"
    out = run(["sops", "encrypt", "--pgp", fingerprint, "--input-type", "yaml", "--output-type", "yaml",
               "--encrypted-regex", "^stringData$", "/dev/stdin"], env={"GNUPGHOME": machine_home},
              data=SECRET.encode(), cwd=str(tmp_path))
    pgp_file.write_bytes(out[1])
    monkeypatch.setenv("GNUPGHOME", machine_home)  # the machine has the PGP key
    _place("~/.config/sops/age/keys.txt", machine["machine"]["key"], tmp_path / "home", monkeypatch)
    with sops.Decryption(run, {"pgp_keys": [secret]}) as decryption:
        assert "hunter2-plain" in decryption.decrypt("pgp.sops.yaml", path=str(pgp_file))
        with pytest.raises(GitOpsError, match="no key of `decryption` fits; it is encrypted for age "):
            decryption.decrypt("machine.sops.yaml", path=machine["machine"]["file"])
    with sops.Decryption(run, {"age_keys": [machine["ours"]["key"]]}) as decryption:
        with pytest.raises(GitOpsError, match="no key of `decryption` fits; it is encrypted for PGP %s" % fingerprint):
            decryption.decrypt("pgp.sops.yaml", path=str(pgp_file))


def test_named_keys_unset_the_machines_other_age_sources():
    """A None value: the runner removes the variable (a stand-in value broke sops 3.10 on an SSH key file)."""
    env = sops.only_these_keys("/tmp/private", None, "/tmp/gnupg")
    assert {k: env[k] for k in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
                                "SOPS_AGE_SSH_PRIVATE_KEY_CMD", "SOPS_AGE_KEY_FILE")} == dict.fromkeys(
        ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
         "SOPS_AGE_KEY_FILE"))
    assert env["HOME"] == "/tmp/private" and env["GNUPGHOME"] == "/tmp/gnupg"


def test_the_module_runner_unsets_a_variable_given_as_none(monkeypatch):
    from ansible_collections.gitops.core.plugins.module_utils.common.runner import ModuleRunner

    class Module:
        def get_bin_path(self, name):
            return shutil.which(name)

        def run_command(self, cmd, environ_update=None, **_kw):
            seen.update(environ_update)
            return 0, b"", b""
    seen = {}
    monkeypatch.setenv("SOPS_AGE_KEY", "AGE-SECRET-KEY-1MACHINE")
    ModuleRunner(Module())(["true"], env={"SOPS_AGE_KEY": None, "HOME": "/tmp/x"})
    assert "SOPS_AGE_KEY" not in os.environ and seen == {"HOME": "/tmp/x"}


def test_a_document_vaulted_whole_names_every_leaf_whatever_yaml_made_of_it():
    import datetime
    from ansible_collections.gitops.core.plugins.module_utils.source.secrets import vault
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
           "data": {"day": datetime.date(2026, 12, 3), "n": 5}}
    assert sorted(vault.leaf_paths(doc)) == [("data", "day"), ("data", "n")]
    assert vault.leaf_paths("a bare value") == []
