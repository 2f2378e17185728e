"""Make `ansible_collections.gitops.core` importable.  pytest-ansible does this in the main venv;
it does not support ansible-core 2.17 (our oldest supported line), so the compatibility venv,
which has no pytest-ansible, falls back to the `.collections` link that `make collection` makes."""
import sys
from pathlib import Path

try:
    import ansible_collections.gitops.core  # noqa: F401  (pytest-ansible set the path up)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
