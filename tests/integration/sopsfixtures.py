"""Real SOPS keys and files for the tests: age keys made by age-keygen, an OpenPGP key made by gpg, files
encrypted by the sops binary (both built from their Go modules by tests/cluster/cluster.py, on PATH
through .cluster/bin)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import weakref
from pathlib import Path


def _remove_home(home: str) -> None:
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


def run(*args: str, env: dict | None = None, input: str | None = None) -> str:
    import os
    proc = subprocess.run(args, capture_output=True, text=True, input=input, env={**os.environ, **(env or {})},
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stderr}")
    return proc.stdout


class SopsKeys:
    """Two age keys (`age`, the one the run is given, and `other`) and one OpenPGP key (`pgp`)."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.age, self.age_recipient = self._age(root / "age.txt")
        self.other, self.other_recipient = self._age(root / "other.txt")
        # gpg-agent's socket lives in the GnuPG home: a Unix socket path must stay short (pytest's are long)
        self.gnupghome = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
        self.gpg_env = {"GNUPGHOME": str(self.gnupghome)}
        weakref.finalize(self, _remove_home, str(self.gnupghome))
        run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Ops <ops@example.com>", "default", "default",
            "never", env=self.gpg_env)
        out = run("gpg", "--with-colons", "--fingerprint", "ops@example.com", env=self.gpg_env)
        self.pgp_fingerprint = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        self.pgp = run("gpg", "--batch", "--armor", "--export-secret-keys", "ops@example.com", env=self.gpg_env)

    @staticmethod
    def _age(path: Path) -> tuple[str, str]:
        run("age-keygen", "-o", str(path))
        text = path.read_text()
        recipient = next(line.split(": ")[1] for line in text.splitlines() if line.startswith("# public key: "))
        return text, recipient

    def encrypt(self, text: str, fmt: str = "yaml", pgp: bool = False, recipient: str | None = None,
                encrypted_regex: str | None = "^(data|stringData)$") -> str:
        """`text` encrypted by sops for the age key (or `recipient`), or for the PGP key."""
        args = ["sops", "encrypt", "--input-type", fmt, "--output-type", fmt]
        args += ["--pgp", self.pgp_fingerprint] if pgp else ["--age", recipient or self.age_recipient]
        if encrypted_regex and fmt in ("yaml", "json"):
            args += ["--encrypted-regex", encrypted_regex]
        return run(*args, "/dev/stdin", env=self.gpg_env, input=text)
