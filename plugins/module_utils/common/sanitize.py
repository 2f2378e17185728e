# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret values out of API server messages.  The API server quotes offending values in some
errors (`.stringData.pin: expected string, got &value.valueUnstructured{Value:987654321}`); a
message about a Secret is scrubbed of every value the Secret declares, in each form it may take
(as written, as text, base64-encoded or decoded), and of Go's `{Value:...}` dumps, before it
reaches a result, a warning or a report.  `mask` serves the renderers' error text too (Helm's
values, Kustomize's secretGenerator literals)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import binascii
import re

from ansible_collections.gitops.core.plugins.module_utils.common import decrypted
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import HIDDEN, MASK_MIN_LENGTH

_GO_VALUE = re.compile(r"\{Value:[^}]*\}")
_DIGEST = re.compile(r"[0-9A-Fa-f]{32,}")


def _forms(value):
    text = value if isinstance(value, str) else str(value)
    forms = {text, repr(value)}
    forms.add(base64.b64encode(text.encode("utf-8")).decode("ascii"))
    try:
        forms.add(base64.b64decode(text, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    return forms


def forms_of(values):
    """Every text form (as written, base64-encoded or decoded) of `values` long enough to mask."""
    out = set()
    for value in values:
        out |= _forms(value)
    return {v for v in out if len(v) >= MASK_MIN_LENGTH}


def without_digests(text):
    """`text` without long hexadecimal runs (digests a tool printed, possibly of secret values)."""
    return _DIGEST.sub(HIDDEN, text)


def secret_values(obj):
    """Every text form of the values a Secret declares, and of the values at an object's decrypted
    fields (decrypted.py)."""
    if not isinstance(obj, dict):
        return set()
    values = forms_of(decrypted.values(obj))
    if obj.get("kind") != "Secret":
        return values
    for field in ("data", "stringData"):
        for value in (obj.get(field) or {}).values() if isinstance(obj.get(field), dict) else ():
            if value is not None:
                values |= _forms(value)
    return {v for v in values if len(v) >= MASK_MIN_LENGTH}


def mask(text, values):
    """`text` with each of `values` replaced by HIDDEN, the longest first (a value that holds
    another is masked whole)."""
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, HIDDEN)
    return text


def scrub(obj, text):
    """`text` (a message about `obj`) without any of `obj`'s Secret values."""
    values = secret_values(obj)
    if not values:
        return text
    return mask(_GO_VALUE.sub("{Value:%s}" % HIDDEN, text), values)


def mask_secret(obj):
    """A copy of `obj` whose Secret data/stringData values and decrypted fields are hidden (keys
    stay visible)."""
    if not isinstance(obj, dict):
        return obj
    obj = decrypted.hide(obj)
    if obj.get("kind") != "Secret":
        return obj
    obj = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            obj[field] = {k: HIDDEN for k in obj[field]}
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if "kubectl.kubernetes.io/last-applied-configuration" in ann:
        ann["kubectl.kubernetes.io/last-applied-configuration"] = HIDDEN
    return obj
