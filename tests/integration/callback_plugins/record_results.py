# Test helper, not part of the collection: save each registered result for the integration tests.
"""Writes the result of every task that has `register: NAME` to $GITOPS_TEST_RECORD_DIR/NAME.json
(the last one wins, as with the variable; a task var `record_as` gives another NAME).  Faster than a copy task per result: no module runs."""
from __future__ import annotations

import json
import os

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_results
type: aggregate
short_description: save registered results for the integration tests
description: Writes each registered task result to GITOPS_TEST_RECORD_DIR as NAME.json.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = False

    def _save(self, result):
        folder = os.environ.get("GITOPS_TEST_RECORD_DIR")
        register = getattr(result._task, "register", None)
        if not folder or not register:
            return
        # ansible-core 2.21 keeps `register: r` as {"r": <what to store>}; older ones as "r"; a task var
        # `record_as` names the file instead (lockstep.py: several tests' step0 in one playbook)
        name = (getattr(result._task, "vars", None) or {}).get("record_as") or (
            next(iter(register)) if isinstance(register, dict) else register)
        data = {k: v for k, v in result._result.items() if not k.startswith("_ansible")}
        data.setdefault("changed", False)
        data.setdefault("failed", result.is_failed())
        with open(os.path.join(folder, "%s.json" % name), "w") as fh:
            json.dump(data, fh, cls=AnsibleJSONEncoder)

    def v2_runner_on_ok(self, result, **kwargs):
        self._save(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._save(result)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._save(result)
