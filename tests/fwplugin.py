# pytest plugin: every tests/firmware/test_*.py runs on the MicroPython unix port, one pytest item
# per test function ("name[upy]"), so failures show the MicroPython traceback. A file that sets
# PORTABLE = True also runs under CPython as an ordinary module (through host_tools.upy_shim).
# Per-file options go in a header comment: `# fw: heapsize=128K timeout=300`, and
# `# fw: interp=unix64,unix32-frozen` runs the file once per interpreter kind (paths.INTERPRETERS;
# default unix64), items named name[upy], name[upy32], name[upy32f]. IHD_TEST_INTERP=<kind> runs
# every firmware test file on that kind instead (docs/toolchain.md).
# Under `pytest -n N --dist loadfile` (make test) this plugin also schedules the work
# (SystemFirstScheduling below): loadfile for every file, except that each system test is a unit
# of its own and the long ones start first.
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
# item name suffix per interpreter kind (unix64 keeps the historical [upy])
TAGS = {"unix64": "upy", "unix32": "upy32", "unix32-frozen": "upy32f"}
ENV_INTERP = "IHD_TEST_INTERP"
_interps = {}  # kind -> paths.Interpreter or the build error (str), once per session


def pytest_configure(config):
    kind = os.environ.get(ENV_INTERP)
    if kind and kind not in paths.INTERPRETERS:
        raise pytest.UsageError(
            "%s=%s: choose from %s" % (ENV_INTERP, kind, ", ".join(paths.INTERPRETERS))
        )


def _kinds(path, opts):
    override = os.environ.get(ENV_INTERP)
    if override:
        return [override]
    kinds = [k for k in opts.get("interp", "unix64").split(",") if k]
    bad = [k for k in kinds if k not in paths.INTERPRETERS]
    if bad or not kinds:
        raise UpyFile.CollectError(
            "%s: '# fw: interp=%s': choose from %s"
            % (path.name, opts.get("interp", ""), ", ".join(paths.INTERPRETERS))
        )
    return list(dict.fromkeys(kinds))


def _interpreter(kind):
    # Builds a 32-bit kind on first use (host_tools.upy32); a failed build fails its items.
    if kind not in _interps:
        try:
            _interps[kind] = paths.interpreter(kind)
        except Exception as e:  # noqa: BLE001 - reported on every item of that kind
            _interps[kind] = "cannot get interpreter %s: %s" % (kind, e)
    return _interps[kind]


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
        self._results = {}  # kind -> {name: (status, output, extra)}
        for kind in _kinds(self.path, self.opts):
            for n in names:
                yield UpyItem.from_parent(
                    self, name="%s[%s]" % (n, TAGS[kind]), fname=n, kind=kind
                )

    def run_upy(self, names, kind="unix64"):
        # One interpreter process of `kind` runs `names` from this file.
        interp = _interpreter(kind)
        if isinstance(interp, str):
            return {n: ("FAIL", "", interp) for n in names}
        heap = self.opts.get("heapsize", DEFAULT_HEAPSIZE)
        timeout_s = int(self.opts.get("timeout", DEFAULT_TIMEOUT_S))
        cmd = [interp.exe, "-X", "heapsize=" + heap]
        cmd += [os.path.join(paths.TESTS, "fwrun.py"), str(self.path)] + names
        env = dict(os.environ, MICROPYPATH=interp.micropypath(extra=[FW_TESTS]))
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

    def result(self, fname, kind="unix64"):
        res = self._results.get(kind)
        if res is None:
            mine = [i.fname for i in self.session.items if i.parent is self and i.kind == kind]
            res = self._results[kind] = self.run_upy(mine or [fname], kind)
        if fname not in res:
            res.update(self.run_upy([fname], kind))
        return res[fname]


class UpyFailure(Exception):
    pass


class UpyItem(pytest.Item):
    def __init__(self, *, fname, kind="unix64", **kw):
        super().__init__(**kw)
        self.fname = fname
        self.kind = kind

    def runtest(self):
        status, output, extra = self.parent.result(self.fname, self.kind)
        if status == "SKIP":
            pytest.skip(extra or "skipped on MicroPython")
        if status != "PASS":
            raise UpyFailure(output + ("\n" + extra if extra else ""))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, UpyFailure):
            where = "unix port" if self.kind == "unix64" else self.kind
            return "MicroPython (%s) failure:\n%s" % (where, excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s: %s" % (TAGS[self.kind], self.fname)


# ---- xdist scheduling (make test: pytest -n N --dist loadfile) ---------------------------------
# A firmware file must stay whole on one worker (one interpreter process runs all of its items,
# CPython and MicroPython ones share the file's node id), so files are the units, as
# --dist loadfile makes them; but each system test (tests/system) is a unit of its own. The
# system tests are long and mostly asleep on simulated time, so the suite takes as long as its
# longest tests if they start first and nothing waits behind them. An xdist worker runs an item
# only once it has the next one (it holds that one back), so whatever is queued behind a long
# test waits for all of it: a worker starting a long test either leaves after it (when the
# others can do all the rest meanwhile) or holds a short file, never another long test.
SYSTEM_DIR = "tests/system/"
# Expected real seconds of the system tests (measured on 2 cores under `make test`), for the
# scheduling only: the longest matching prefix counts, else SYSTEM_DEFAULT_S.
SYSTEM_HINTS_S = {
    "tests/system/test_budget_": 290,
    "tests/system/test_stack_system.py": 27,
    "tests/system/test_stack_system.py::test_survives_two_percent_byte_corruption": 270,
    "tests/system/test_prepay_system.py": 15,
    "tests/system/test_prepay_system.py::test_no_answer_retry_emergency_credit": 100,
    "tests/system/test_join_system.py": 31,
    "tests/system/test_join_system.py::test_rejoins_after_ncp_reset": 61,
    "tests/system/test_join_system.py::test_fresh_device_joins": 41,
    "tests/system/test_join_system.py::test_wrong_install_code": 16,
    "tests/system/test_tenancy_system.py": 35,
    "tests/system/test_tenancy_system.py::test_cot_commands_mid_half_hour": 42,
    "tests/system/test_ota_system.py": 5,
    "tests/system/test_ota_system.py::test_han_update_resumes": 55,
    "tests/system/test_ota_system.py::test_crashing_firmware": 8,
    "tests/system/test_status_system.py": 18,
    "tests/system/test_messages_system.py": 45,
    "tests/system/test_tariffs_system.py": 45,
    "tests/system/test_tariffs_system.py::test_four_rate_day": 60,
    "tests/system/test_export_system.py": 17,
    "tests/system/test_export_system.py::test_exporting_home": 62,
    "tests/system/test_backfill_system.py": 40,
}
SYSTEM_DEFAULT_S = 30
FILE_S = 2  # a test file, for the estimate of the work left (most take well under a second)


def expected_s(scope):
    # A unit's expected real seconds: a system test by SYSTEM_HINTS_S; a file 0 (short).
    if not scope.startswith(SYSTEM_DIR):
        return 0
    best = ""
    for prefix in SYSTEM_HINTS_S:
        if scope.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return SYSTEM_HINTS_S[best] if best else SYSTEM_DEFAULT_S


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SystemFirstScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            if nodeid.startswith(SYSTEM_DIR):
                return nodeid  # one system test
            return nodeid.split("::", 1)[0]  # one file

        def schedule(self):
            assert self.collection_is_completed
            if self.collection is not None:  # a node added later
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            units = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            # longest first; files (and equal hints) keep the collection order (sort is stable)
            for scope in sorted(units, key=lambda s: -expected_s(s)):
                self.workqueue[scope] = units[scope]
            for _ in range(len(self.nodes) - len(self.workqueue)):  # more workers than work
                node, _ = self.assigned_work.popitem()
                node.shutdown()
            for node in self.nodes:
                self._reschedule(node)
            if not self.workqueue:
                for node in self.nodes:
                    node.shutdown()

        def _reschedule(self, node):
            # Top the node up to two items (the one it runs, the one it holds back), no more:
            # work queued on a busy node cannot go to an idle one.
            while not node.shutting_down:
                if not self.workqueue:
                    node.shutdown()
                    return
                pending = [
                    nodeid
                    for unit in self.assigned_work[node].values()
                    for nodeid, done in unit.items()
                    if not done
                ]
                if len(pending) >= 2:
                    return
                held_s = expected_s(self._split_scope(pending[-1])) if pending else 0
                if not held_s:
                    self._assign(node, next(iter(self.workqueue)))  # the longest left
                    continue
                # The held item is a long test: the node runs it and leaves if the other
                # nodes can do the rest meanwhile, else it holds the shortest thing there is.
                others = [n for n in self.nodes if n is not node and not n.shutting_down]
                left = sum(expected_s(s) or FILE_S for s in self.workqueue)
                if others and left <= held_s * len(others):
                    node.shutdown()
                    return
                files = [s for s in self.workqueue if not expected_s(s)]
                self._assign(node, files[0] if files else next(reversed(self.workqueue)))

        def _assign(self, node, scope):
            work_unit = self.workqueue.pop(scope)
            self.assigned_work[node][scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some(
                [collection.index(nodeid) for nodeid, done in work_unit.items() if not done]
            )

    return SystemFirstScheduling(config, log)
