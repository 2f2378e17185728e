"""Where a run's CPU goes, every process counted (short-lived ones too: modules, kubectl, git), from Linux
process accounting.  Needs root (the acct(2) system call); make test is CPU-bound on 2 cores, so this is how to
see what to cut.

    python3 hack/cpu_by_step.py on /tmp/pacct      # start accounting into that file
    make test
    python3 hack/cpu_by_step.py off
    python3 hack/cpu_by_step.py report /tmp/pacct  # CPU by step, by command, and per ansible-playbook run

A step is the chain of known programs above a process (pytest > ansible-playbook, ansible-test, kcp, ...).
The kernel's figures come from its own accounting and can differ from getrusage's by some percent."""
import collections
import ctypes
import struct
import sys

RECORD = struct.Struct("<BBHIIIIIIf8H16s")  # struct acct_v3 (linux/acct.h), 64 bytes
AHZ = 100.0
COMM = 15  # the kernel keeps a command's first 15 characters
STEPS = tuple(name[:COMM] for name in (
    "ansible-test", "ansible-lint", "molecule", "ansible-rulebook", "ansible-playbook", "pytest", "kcp", "kwok",
    "registry", "prometheus", "helm", "sops", "git", "gpg", "kubectl", "java", "go"))
PLAYBOOK = "ansible-playbook"[:COMM]


def comp_t(value):
    """A comp_t: 13-bit mantissa, 3-bit base-8 exponent."""
    return (value & 0x1FFF) << (3 * (value >> 13))


def read(path):
    with open(path, "rb") as fh:
        data = fh.read()
    records = []
    for offset in range(0, len(data) - RECORD.size + 1, RECORD.size):
        f = RECORD.unpack_from(data, offset)
        records.append({"pid": f[6], "ppid": f[7], "start": f[8], "elapsed": f[9] / AHZ,
                        "cpu": (comp_t(f[10]) + comp_t(f[11])) / AHZ,
                        "comm": f[18].split(b"\0")[0].decode("ascii", "replace")})
    return records


class Tree:
    """Parents by pid and time: pids are reused, so a parent is the record of that pid alive at the child's start."""

    def __init__(self, records):
        self.by_pid = collections.defaultdict(list)
        for record in records:
            self.by_pid[record["pid"]].append(record)

    def parent(self, record):
        found = None
        for candidate in self.by_pid.get(record["ppid"], ()):
            alive = candidate["start"] - 1 <= record["start"] <= candidate["start"] + candidate["elapsed"] + 2
            if alive and (found is None or candidate["start"] > found["start"]):
                found = candidate
        return found

    def step(self, record):
        chain = []
        node = record
        while node is not None and len(chain) < 64:
            chain.append(node["comm"])
            node = self.parent(node)
        named = [comm for comm in reversed(chain) if comm in STEPS]
        return ">".join(dict.fromkeys(named)) or record["comm"]


def table(title, totals, rows=20):
    print("-- " + title)
    for name, (count, cpu) in sorted(totals.items(), key=lambda item: -item[1][1])[:rows]:
        print("%9.1f s %7d processes %6.2f s each  %s" % (cpu, count, cpu / count, name))


def report(path):
    records = read(path)
    tree = Tree(records)
    by_step = collections.defaultdict(lambda: [0, 0.0])
    by_command = collections.defaultdict(lambda: [0, 0.0])
    playbooks = []
    for record in records:
        step = tree.step(record)
        for totals, key in ((by_step, step), (by_command, record["comm"])):
            totals[key][0] += 1
            totals[key][1] += record["cpu"]
        parent = tree.parent(record)
        if record["comm"] == PLAYBOOK and (parent is None or parent["comm"] != PLAYBOOK):
            playbooks.append(record["cpu"])
    print("%.1f CPU-s in %d processes" % (sum(r["cpu"] for r in records), len(records)))
    table("by step", by_step)
    table("by command", by_command)
    if playbooks:
        print("ansible-playbook runs: %d, their controllers %.1f CPU-s (%.2f each)"
              % (len(playbooks), sum(playbooks), sum(playbooks) / len(playbooks)))


def accounting(path):
    libc = ctypes.CDLL(None, use_errno=True)
    if path is not None:
        with open(path, "wb"):
            pass
    if libc.acct(path.encode() if path is not None else None) != 0:
        sys.exit("cpu_by_step: acct(2) refused: errno %d (it needs root)" % ctypes.get_errno())


def main(argv):
    if len(argv) == 2 and argv[0] == "on":
        accounting(argv[1])
    elif argv == ["off"]:
        accounting(None)
    elif len(argv) == 2 and argv[0] == "report":
        report(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
