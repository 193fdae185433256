# ECDSA P-256 signature verification figures (ihd.ota.p256), for `make bench` section `sig`:
# boards/unix/sigbench.py on the 64-bit unix port and on the 32-bit build (the frozen kind, as
# the RAM and timing figures are measured on it; the plain 32-bit kind if that cannot be built).
# Timing in a 256 KB heap (the firmware tests' default, about what an RP2040 leaves), with the
# collector running as it would on a device; heap allocated per verification in a separate run
# with the collector off (the heap must hold it all).
#   python -m host_tools.bench_sig [--n 20]       prints one line per interpreter
from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional, Tuple

from host_tools import cli, paths

SCRIPT = os.path.join(paths.BOARDS, "unix", "sigbench.py")
HEAP = "256K"
ALLOC_HEAP = "4M"
N = 20


def _run(interp, heap, args, timeout_s=300):
    cmd = [interp.exe, "-X", "heapsize=" + heap, SCRIPT] + list(args)
    env = dict(os.environ, MICROPYPATH=interp.micropypath())
    p = subprocess.run(
        cmd, cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if p.returncode:
        raise RuntimeError("%s failed:\n%s%s" % (cmd, p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def _interpreters():
    # -> [(kind, Interpreter or None, error)]: unix64, then the frozen 32-bit kind or else plain
    out: List[Tuple[str, Optional[paths.Interpreter], str]] = [
        ("unix64", paths.interpreter("unix64"), "")
    ]
    err = ""
    for kind in ("unix32-frozen", "unix32"):
        try:
            out.append((kind, paths.interpreter(kind), ""))
            return out
        except Exception as e:  # noqa: BLE001 - reported as the section's line
            err += "%s: %s; " % (kind, e)
    out.append(("unix32", None, "cannot build a 32-bit interpreter (%s)" % err.rstrip("; ")))
    return out


def one(interp, n=N):
    # -> the SIGBENCH line's figures with the allocation appended
    line = next(x for x in _run(interp, HEAP, [str(n)]).splitlines() if x.startswith("SIGBENCH"))
    alloc = next(
        x for x in _run(interp, ALLOC_HEAP, ["alloc"]).splitlines() if x.startswith("SIGALLOC")
    )
    figures = line[len("SIGBENCH ") :]
    head, _, tail = figures.rpartition(" (")
    return "%s (%s, %s heap); %d kB allocated per verification" % (
        head,
        tail.rstrip(")"),
        HEAP,
        int(alloc.split()[1]) // 1024,
    )


def run(n=N):
    return [
        "%s: %s" % (kind, one(interp, n) if interp else err)
        for kind, interp, err in _interpreters()
    ]


@cli.guarded("bench_sig")
def main(argv=None):
    ap = cli.ArgumentParser(description="ECDSA P-256 verification figures")
    ap.add_argument("--n", type=int, default=N, help="verifications per interpreter")
    a = ap.parse_args(argv)
    for line in run(a.n):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
