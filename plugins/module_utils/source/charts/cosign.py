# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cosign key-based signatures of a chart in an OCI registry (`cosign sign --key`), verified offline
against the public keys the play gives: no transparency log, no certificate authority, no request but
to the chart's own registry.

Cosign stores a signature in one of two shapes, and both are read:

- a bundle (cosign 3's default): an OCI manifest whose `subject` is the chart's manifest, found through
  the registry's referrers API or, where the registry lacks it, the `sha256-<hex>` tag's index.  Its
  layer is a Sigstore bundle holding a DSSE envelope: an in-toto statement whose subject is the chart's
  manifest digest and whose predicate type is cosign's signature (an attestation signed with the same
  key is not a signature).  The signature covers the envelope's pre-authentication encoding.
- simple signing (cosign 2, or `--new-bundle-format=false`): the `sha256-<hex>.sig` tag's manifest,
  one layer per signature; the layer is a JSON payload naming the manifest digest, its annotation the
  signature over those bytes.

What was fetched (`evidence`: the payloads and bundles, never a key) is kept in the chart cache and
verified again at every run, so a cached chart is checked without a request."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

SIMPLE_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_TYPE = "cosign container image signature"
BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
INTOTO = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
INDEX_TYPES = "application/vnd.oci.image.index.v1+json"
MAX_SIGNATURES = 50
MAX_EVIDENCE_BYTES = 1024 * 1024


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    except ImportError:
        raise GitOpsError("verify=cosign needs the Python package cryptography (ansible-core requires it too)")
    return InvalidSignature, hashes, serialization, ec, padding, rsa


# ---------------------------------------------------------------- keys

class Key(object):
    """A trusted public key: `name` (where the play gives it), `fingerprint` (sha256 of its DER form)."""

    def __init__(self, pem, name):
        _invalid, hashes, serialization, ec, _padding, rsa = _crypto()
        self.name = name
        try:
            self.key = serialization.load_pem_public_key(pem.encode("utf-8") if not isinstance(pem, bytes) else pem)
        except (ValueError, TypeError):
            raise GitOpsError("%s is not a PEM public key (the cosign.pub of `cosign generate-key-pair`)" % name)
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            curves = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}
            if self.key.curve.name not in curves:
                raise GitOpsError("%s: the curve %s is not one cosign signs with" % (name, self.key.curve.name))
            self.hash = curves[self.key.curve.name]
        elif isinstance(self.key, rsa.RSAPublicKey):
            self.hash = hashes.SHA256
        else:  # cosign signs with ed25519 keys in its pre-hashed form, which cryptography cannot check
            raise GitOpsError("%s: only ECDSA (cosign generate-key-pair's) and RSA keys are supported" % name)
        der = self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()

    def signs(self, signature, data):
        invalid, _hashes, _serialization, ec, padding, _rsa = _crypto()
        try:
            if hasattr(self.key, "curve"):
                self.key.verify(signature, data, ec.ECDSA(self.hash()))
            else:
                self.key.verify(signature, data, padding.PKCS1v15(), self.hash())
        except (invalid, ValueError):
            return False
        return True


def keys(pems, where, what):
    """Key objects of the PEM keys given at `where` (trusted_keys.<name>.cosign_keys) for the chart `what`."""
    if not pems:
        raise GitOpsError("%s: verify=cosign needs keys: %s is empty or missing" % (what, where))
    try:
        return [Key(pem, "%s[%d]" % (where, index)) for index, pem in enumerate(pems)]
    except GitOpsError as exc:
        raise GitOpsError("%s: %s" % (what, exc.message))


# ---------------------------------------------------------------- what the registry holds

def _json(data, what, kind):
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise GitOpsError("%s: the cosign %s is not JSON" % (what, kind))


def _blob(registry, layer):
    return registry.blob({"digest": str(layer["digest"]), "size": int(layer["size"])}, MAX_EVIDENCE_BYTES)


def _simple(registry, digest, what):
    found = registry.manifest("sha256-%s.sig" % digest.split(":", 1)[1])
    if found is None:
        return []
    layers = (_json(found[1], what, "signature manifest").get("layers") or [])[:MAX_SIGNATURES]
    out = []
    for layer in layers:
        signature = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        if layer.get("mediaType") == SIMPLE_LAYER and signature:
            out.append({"payload": base64.b64encode(_blob(registry, layer)).decode("ascii"), "signature": signature})
    return out


def _bundles(registry, digest, what):
    index = registry.referrers(digest)
    if index is None:  # no referrers API: the tag cosign (go-containerregistry) writes instead
        found = registry.manifest("sha256-%s" % digest.split(":", 1)[1], accept=INDEX_TYPES)
        index = found[1] if found else None
    if index is None:
        return []
    out = []
    for entry in (_json(index, what, "referrers index").get("manifests") or [])[:MAX_SIGNATURES]:
        found = registry.manifest(str(entry.get("digest")))
        if found is None or found[0] != entry.get("digest"):
            continue
        manifest = _json(found[1], what, "bundle manifest")
        layers = [layer for layer in manifest.get("layers") or []
                  if str(layer.get("mediaType", "")).startswith(BUNDLE_PREFIX)]
        if len(layers) == 1 and (manifest.get("subject") or {}).get("digest") == digest:
            out.append(base64.b64encode(_blob(registry, layers[0])).decode("ascii"))
    return out


def collect(registry, digest, what):
    """The evidence the registry holds for the chart manifest `digest`: {"simple": [...], "bundles": [...]}."""
    return {"simple": _simple(registry, digest, what), "bundles": _bundles(registry, digest, what)}


# ---------------------------------------------------------------- verification

def _b64(text):
    text = str(text)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None)
    except (ValueError, TypeError):
        return b""


def _pae(payload_type, payload):
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _check_simple(item, digest, trusted):
    payload = _b64(item.get("payload"))
    key = next((k for k in trusted if k.signs(_b64(item.get("signature")), payload)), None)
    if key is None:
        return None, "not by a trusted key"
    try:
        critical = json.loads(payload.decode("utf-8"))["critical"]
        signed, kind = critical["image"]["docker-manifest-digest"], critical["type"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None, "a payload that is not cosign's"
    if kind != SIMPLE_TYPE:
        return None, "of type %s, not a signature" % kind
    return (key, "simplesigning") if signed == digest else (None, "of another digest (%s)" % signed)


def _check_bundle(item, digest, trusted):
    try:
        bundle = json.loads(_b64(item).decode("utf-8"))
        envelope = bundle["dsseEnvelope"]
        payload_type, payload = envelope["payloadType"], _b64(envelope["payload"])
        [signature] = envelope["signatures"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None, "a bundle without one DSSE signature"
    if not str(bundle.get("mediaType", "")).startswith(BUNDLE_PREFIX) or payload_type != INTOTO:
        return None, "a bundle of another kind (%s)" % payload_type
    key = next((k for k in trusted if k.signs(_b64(signature.get("sig")), _pae(payload_type, payload))), None)
    if key is None:
        return None, "not by a trusted key"
    try:
        statement = json.loads(payload.decode("utf-8"))
        subjects = ["sha256:%s" % (s.get("digest") or {}).get("sha256") for s in statement["subject"]]
        statement_type, predicate = statement["_type"], statement["predicateType"]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None, "a statement that is not in-toto's"
    if statement_type not in STATEMENT_TYPES or predicate != SIGN_PREDICATE:
        return None, "an attestation (%s), not a signature" % predicate
    return (key, "bundle") if digest in subjects else (None, "of another digest (%s)" % ", ".join(subjects))


def verify(evidence, digest, trusted, what):
    """{"key", "fingerprint", "format"} of the first signature by a `trusted` key over the manifest
    `digest`; raise naming the chart and what each signature found was otherwise."""
    checks = [_check_simple(item, digest, trusted) for item in evidence.get("simple") or []]
    checks += [_check_bundle(item, digest, trusted) for item in evidence.get("bundles") or []]
    for key, shape in checks:
        if key is not None:
            return {"key": key.name, "fingerprint": key.fingerprint, "format": shape}
    if not checks:
        raise GitOpsError("%s: verify=cosign, but the registry holds no cosign signature of %s (sign it with "
                          "`cosign sign --key`); refused" % (what, digest))
    reasons = sorted(set(reason for _key, reason in checks))
    raise GitOpsError("%s: none of the %d cosign signatures of %s is good: %s; refused"
                      % (what, len(checks), digest, "; ".join(reasons)))


def dumps(evidence):
    return json.dumps(evidence, sort_keys=True).encode("utf-8")


def loads(data):
    """Evidence read back from the cache, or None when it is not evidence."""
    try:
        evidence = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return evidence if isinstance(evidence, dict) else None
