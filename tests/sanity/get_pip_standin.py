"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host this machine cannot
reach.  ansible-test runs it as __main__ with pip-install arguments; install them with the pip
wheel that the standard library's ensurepip bundles (the packages themselves come from PyPI)."""
import glob
import os
import sys

import ensurepip

wheel = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))[-1]
sys.path.insert(0, wheel)
from pip._internal.cli.main import main as pip_main  # noqa: E402  (importable only after the insert)

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(pip_main(["install", *args]))
