"""Cosign signatures checked on plain data (source/charts/cosign.py): both shapes cosign writes, made here
with keys of the `cryptography` package the way cosign makes them (the integration test verifies what the
real cosign pushed to a real registry)."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.charts import cosign

DIGEST = "sha256:" + "d4" * 32
OTHER = "sha256:" + "0e" * 32
WHAT = "chart oci://registry.example/charts/podinfo 6.14.1"


def pem(private) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(private, data: bytes) -> str:
    if isinstance(private, rsa.RSAPrivateKey):
        return base64.b64encode(private.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()
    return base64.b64encode(private.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def simple(private, digest=DIGEST, kind=cosign.SIMPLE_TYPE) -> dict:
    payload = json.dumps({"critical": {"identity": {"docker-reference": "registry.example/charts/podinfo"},
                                       "image": {"docker-manifest-digest": digest}, "type": kind},
                          "optional": None}).encode()
    return {"payload": base64.b64encode(payload).decode(), "signature": sign(private, payload)}


def bundle(private, digest=DIGEST, predicate=cosign.SIGN_PREDICATE) -> str:
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                            "subject": [{"digest": {"sha256": digest.split(":")[1]}, "annotations": {}}],
                            "predicateType": predicate, "predicate": {}}).encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(cosign.INTOTO), cosign.INTOTO.encode(), len(statement), statement)
    document = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {"publicKey": {"hint": "x"}},
                "dsseEnvelope": {"payload": base64.b64encode(statement).decode(), "payloadType": cosign.INTOTO,
                                 "signatures": [{"sig": sign(private, pae)}]}}
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.fixture(scope="module")
def keys():
    return {"alice": ec.generate_private_key(ec.SECP256R1()), "mallory": ec.generate_private_key(ec.SECP256R1()),
            "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048)}


def trusted(*privates):
    return cosign.keys([pem(p) for p in privates], "trusted_keys.charts.cosign_keys", WHAT)


def test_a_bundle_and_a_simple_signature_by_a_trusted_key_verify_and_name_the_key(keys):
    trust = trusted(keys["mallory"], keys["alice"])
    got = cosign.verify({"bundles": [bundle(keys["alice"])]}, DIGEST, trust, WHAT)
    assert got["key"] == "trusted_keys.charts.cosign_keys[1]" and got["format"] == "bundle"
    assert got["fingerprint"] == trust[1].fingerprint and got["fingerprint"].startswith("sha256:")
    got = cosign.verify({"simple": [simple(keys["mallory"]), simple(keys["alice"])]}, DIGEST, trusted(keys["alice"]), WHAT)
    assert (got["key"], got["format"]) == ("trusted_keys.charts.cosign_keys[0]", "simplesigning")
    assert cosign.verify({"simple": [simple(keys["rsa"])]}, DIGEST, trusted(keys["rsa"]), WHAT)["format"] == "simplesigning"


@pytest.mark.parametrize("evidence, reason", [
    (lambda k: {"bundles": [bundle(k["mallory"])], "simple": [simple(k["mallory"])]}, "not by a trusted key"),
    (lambda k: {"bundles": [bundle(k["alice"], digest=OTHER)]}, "of another digest (%s)" % OTHER),
    (lambda k: {"simple": [simple(k["alice"], digest=OTHER)]}, "of another digest (%s)" % OTHER),
    (lambda k: {"bundles": [bundle(k["alice"], predicate="https://slsa.dev/provenance/v1")]},
     "an attestation (https://slsa.dev/provenance/v1), not a signature"),
    (lambda k: {"simple": [simple(k["alice"], kind="atomic container signature")]}, "of type atomic"),
])
def test_a_signature_that_is_not_a_trusted_signature_of_this_digest_is_refused_saying_why(keys, evidence, reason):
    with pytest.raises(GitOpsError) as err:
        cosign.verify(evidence(keys), DIGEST, trusted(keys["alice"]), WHAT)
    assert err.value.message.startswith(WHAT + ": none of the ") and reason in err.value.message
    assert err.value.message.endswith("; refused")


def test_a_tampered_payload_fails_and_no_signature_at_all_says_so(keys):
    item = simple(keys["alice"])
    payload = base64.b64decode(item["payload"]).replace(DIGEST.encode(), OTHER.encode())
    with pytest.raises(GitOpsError, match="not by a trusted key"):
        cosign.verify({"simple": [dict(item, payload=base64.b64encode(payload).decode())]}, OTHER,
                      trusted(keys["alice"]), WHAT)
    with pytest.raises(GitOpsError) as err:
        cosign.verify({"simple": [], "bundles": []}, DIGEST, trusted(keys["alice"]), WHAT)
    assert err.value.message == (f"{WHAT}: verify=cosign, but the registry holds no cosign signature of {DIGEST} "
                                 "(sign it with `cosign sign --key`); refused")


def test_keys_that_cannot_be_checked_are_refused_naming_the_entry(keys):
    with pytest.raises(GitOpsError) as err:
        trusted(ed25519.Ed25519PrivateKey.generate())
    assert err.value.message.startswith(WHAT + ": trusted_keys.charts.cosign_keys[0]: only ECDSA")
    with pytest.raises(GitOpsError) as err:
        cosign.keys([pem(keys["alice"]), "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"],
                    "trusted_keys.x.cosign_keys", WHAT)
    assert err.value.message.startswith(WHAT + ": trusted_keys.x.cosign_keys[1] is not a PEM public key")
    with pytest.raises(GitOpsError) as err:
        cosign.keys([], "trusted_keys.x.cosign_keys", WHAT)
    assert err.value.message == WHAT + ": verify=cosign needs keys: trusted_keys.x.cosign_keys is empty or missing"


def test_the_evidence_kept_in_the_cache_reads_back_and_garbage_is_not_evidence(keys):
    evidence = {"bundles": [bundle(keys["alice"])], "simple": []}
    assert cosign.loads(cosign.dumps(evidence)) == evidence
    assert cosign.loads(b"\xff not json") is None and cosign.loads(b"[1]") is None
