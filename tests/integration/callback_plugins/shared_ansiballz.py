# Test helper, not part of the collection: the ansible-playbook runs of one test run share their AnsiballZ payloads.
"""ansible-core builds a module's AnsiballZ payload (the module and every module_utils file it imports, found
by parsing each) once per process, 0.4-0.5 s of CPU for each module of this collection, and keeps it in
`ansiballz_cache` under its private temporary folder.  When GITOPS_TEST_ANSIBALLZ_CACHE names a folder
(conftest.py: one per ansible-core version and installed collection content), that `ansiballz_cache` is a
link to it, so ansible-core builds each payload once per test run instead of once per playbook.  The
payloads are ansible-core's own, built and locked by it; the link is removed with the private folder."""
from __future__ import annotations

import os

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: shared_ansiballz
type: aggregate
short_description: share AnsiballZ payloads between the integration tests' playbook runs
description: Links the process's ansiballz_cache to GITOPS_TEST_ANSIBALLZ_CACHE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "shared_ansiballz"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shared = os.environ.get("GITOPS_TEST_ANSIBALLZ_CACHE")
        if shared:
            os.makedirs(shared, exist_ok=True)
            link = os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache")
            if not os.path.lexists(link):
                os.symlink(shared, link)
