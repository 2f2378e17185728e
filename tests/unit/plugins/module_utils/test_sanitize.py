"""API server messages about a Secret lose every value the Secret declares."""
from __future__ import annotations

import base64

from ansible_collections.gitops.core.plugins.module_utils.common.sanitize import scrub


def secret(**fields):
    return dict({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, **fields)


def test_a_quoted_number_and_go_value_dumps_are_hidden():
    message = ".stringData.pin: expected string, got &value.valueUnstructured{Value:987654321}; 987654321"
    assert scrub(secret(stringData={"pin": 987654321}), message) == (
        ".stringData.pin: expected string, got &value.valueUnstructured{Value:(hidden)}; (hidden)")


def test_values_are_hidden_as_written_decoded_and_encoded():
    encoded = base64.b64encode(b"hunter2-pass").decode()
    body = secret(data={"a": encoded}, stringData={"b": "letmein-now"})
    text = scrub(body, "a=%s a=hunter2-pass b=letmein-now b=%s" % (encoded, base64.b64encode(b"letmein-now").decode()))
    assert text == "a=(hidden) a=(hidden) b=(hidden) b=(hidden)"


def test_other_kinds_and_very_short_values_leave_the_message_alone():
    assert scrub({"kind": "ConfigMap", "data": {"k": "value"}}, "value") == "value"
    assert scrub(secret(stringData={"x": "ab"}), "a bad field") == "a bad field"
    assert scrub(None, "text") == "text"
