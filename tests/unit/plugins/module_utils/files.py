"""Writing files of a pretend checkout, for the unit tests of what loads them."""
from __future__ import annotations


def write(root, rel, text):
    """Write `text` to root/rel (folders made as needed) and return the path."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
