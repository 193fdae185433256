# pytest plugin: every tests/firmware/test_*.py runs on the MicroPython unix port, one pytest item
# per test function ("name[upy]"), so failures show the MicroPython traceback. A file that sets
# PORTABLE = True also runs under CPython as an ordinary module (through host_tools.upy_shim).
# Per-file options go in a header comment: `# fw: heapsize=128K timeout=300`.
import ast
import os
import re
import subprocess

import pytest

from host_tools import paths, upy_shim

upy_shim.install()

FW_TESTS = os.path.join(paths.TESTS, "firmware")
DEFAULT_HEAPSIZE = "256K"  # about what an RP2040 leaves for the application
DEFAULT_TIMEOUT_S = 300
_MARK = "@@fwrun"


def _is_fw_test(path):
    return str(path.parent) == FW_TESTS and path.name.startswith("test_") and path.suffix == ".py"


def _parse(path):
    src = path.read_text()
    tree = ast.parse(src)
    names = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")
    ]
    portable = any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "PORTABLE" for t in n.targets)
        and isinstance(n.value, ast.Constant)
        and n.value.value is True
        for n in tree.body
    )
    opts = {}
    for m in re.finditer(r"^# fw: (.*)$", src, re.M):
        for kv in m.group(1).split():
            k, _, v = kv.partition("=")
            opts[k] = v
    return names, portable, opts


def pytest_pycollect_makemodule(module_path, parent):
    # Non-portable firmware tests are MicroPython-only: keep CPython from importing them.
    if _is_fw_test(module_path) and not _parse(module_path)[1]:
        return _Empty.from_parent(parent, path=module_path)
    return None


def pytest_collect_file(file_path, parent):
    if _is_fw_test(file_path):
        return UpyFile.from_parent(parent, path=file_path, name=file_path.name + "@upy")
    return None


class _Empty(pytest.File):
    def collect(self):
        return []


class UpyFile(pytest.File):
    def collect(self):
        names, _, self.opts = _parse(self.path)
        self._results = None
        for n in names:
            yield UpyItem.from_parent(self, name=n + "[upy]", fname=n)

    def run_upy(self, names):
        heap = self.opts.get("heapsize", DEFAULT_HEAPSIZE)
        timeout_s = int(self.opts.get("timeout", DEFAULT_TIMEOUT_S))
        cmd = [paths.micropython_exe(), "-X", "heapsize=" + heap]
        cmd += [os.path.join(paths.TESTS, "fwrun.py"), str(self.path)] + names
        env = dict(os.environ, MICROPYPATH=paths.micropypath(extra=[FW_TESTS]))
        try:
            p = subprocess.run(
                cmd,
                cwd=paths.ROOT,
                env=env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
            )
            out, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
            out += "\n[timed out after %d s]" % timeout_s
            rc = -1
        results, current, buf = {}, None, []
        for line in out.splitlines():
            if line.startswith(_MARK + " "):
                _, name, status, *rest = line.split(" ", 3)
                if status == "START":
                    current, buf = name, []
                else:
                    results[name] = (status, "\n".join(buf), " ".join(rest))
                    current = None
            elif current is not None:
                buf.append(line)
        tail = "\n".join(out.splitlines()[-40:])
        for n in names:
            if n not in results:
                why = "interpreter exited (rc=%s) before this test finished" % rc
                results[n] = ("FAIL", "\n".join(buf) if current == n else "", why + "\n" + tail)
        return results

    def result(self, fname):
        if self._results is None:
            mine = [i.fname for i in self.session.items if i.parent is self]
            self._results = self.run_upy(mine or [fname])
        if fname not in self._results:
            self._results.update(self.run_upy([fname]))
        return self._results[fname]


class UpyFailure(Exception):
    pass


class UpyItem(pytest.Item):
    def __init__(self, *, fname, **kw):
        super().__init__(**kw)
        self.fname = fname

    def runtest(self):
        status, output, extra = self.parent.result(self.fname)
        if status == "SKIP":
            pytest.skip(extra or "skipped on MicroPython")
        if status != "PASS":
            raise UpyFailure(output + ("\n" + extra if extra else ""))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, UpyFailure):
            return "MicroPython (unix port) failure:\n" + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "upy: %s" % self.fname
