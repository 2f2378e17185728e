"""Make `ansible_collections.gitops.core` importable.  pytest-ansible does this in the main venv;
it does not support ansible-core 2.17 (our oldest supported line), so the compatibility venv,
which has no pytest-ansible, falls back to the `.collections` link that `make collection` makes."""
import importlib.util
import sys
from pathlib import Path

try:
    FOUND = importlib.util.find_spec("ansible_collections.gitops.core") is not None
except ImportError:
    FOUND = False
if not FOUND:  # pytest-ansible did not set the path up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
