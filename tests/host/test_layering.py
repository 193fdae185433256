# The firmware's import graph keeps its floors (docs/architecture.md "Layers"):
#   runtime < zigbee < state < services < ui < app
# A module may import its own floor or any floor below, never one above; the graph has no cycle
# (package level for the services, module level everywhere); the UI reads the domain only
# through ihd.state (it imports no service and no zigbee module); only app.py, main.py and the
# boards know `board`. Every `import` statement counts, inside functions too.
import ast
import os

from host_tools import paths

FIRMWARE = paths.FIRMWARE

# floor of each top-level part of the firmware; services are peers on one floor
FLOORS = {
    "drivers": 0,
    "ihd.runtime": 0,
    "ihd.zigbee": 1,
    "ihd.state": 2,
    "ihd.history": 3,
    "ihd.meters": 3,
    "ihd.prepay": 3,
    "ihd.messages": 3,
    "ihd.tenancy": 3,
    "ihd.ota": 3,
    "ihd.ui": 4,
    "ihd.app": 5,
    "main": 6,
}
FLOOR_NAMES = ("runtime", "zigbee", "state", "services", "ui", "app", "main")
# ihd/__init__.py (version only) and ihd/ota/__init__.py (version helpers) sit on the ground
GROUND = ("ihd",)
# What the UI may import besides itself: the state it draws and the runtime it runs on.
UI_MAY_IMPORT = ("ihd.ui", "ihd.state", "ihd.runtime", "drivers")


def modules(root=FIRMWARE):
    # -> {dotted name: path}
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join(rel)] = os.path.join(dirpath, f)
    return out


def _targets(mod, path, node, mods):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        pkg = mod.split(".")
        if not path.endswith("__init__.py"):
            pkg = pkg[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([base] if base else []))
    out = []
    for a in node.names:
        full = base + "." + a.name
        out.append(full if full in mods else base)
    return out


def edges(mods=None):
    # -> sorted [(importer, imported, line)] between firmware modules (and `board`)
    mods = mods or modules()
    out = set()
    for mod, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(mod, path, node, mods):
                    if t == "board" or t in mods:
                        out.add((mod, t, node.lineno))
    return sorted(out)


def part(mod):
    # the FLOORS key a module belongs to (longest prefix), or None for the ground
    best = None
    for p in FLOORS:
        if (mod == p or mod.startswith(p + ".")) and (best is None or len(p) > len(best)):
            best = p
    return best


def floor(mod):
    p = part(mod)
    return -1 if p is None else FLOORS[p]


def upward(edge_list):
    bad = []
    for a, b, line in edge_list:
        if b == "board":
            if a not in ("main", "ihd.app"):
                bad.append("%s:%d imports board (only app.py and main.py may)" % (a, line))
            continue
        if floor(b) > floor(a):
            bad.append(
                "%s:%d imports %s (%s above %s)"
                % (a, line, b, FLOOR_NAMES[floor(b)], FLOOR_NAMES[floor(a)])
            )
    return bad


def ui_reaches_past_state(edge_list):
    return [
        "%s:%d imports %s (the UI reads the domain only through ihd.state)" % (a, line, b)
        for a, b, line in edge_list
        if part(a) == "ihd.ui" and b != "board" and part(b) not in UI_MAY_IMPORT + (None,)
    ]


def cycles(graph):
    # -> list of cycles (each a list of nodes) found by a DFS over {node: set(nodes)}
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m) :] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return found


def module_graph(edge_list):
    g = {}
    for a, b, _ in edge_list:
        if b != "board" and a != b and not a.startswith(b + "."):  # a package's own __init__
            g.setdefault(a, set()).add(b)
    return g


def package_graph(edge_list):
    g = {}
    for a, b, _ in edge_list:
        pa, pb = part(a), part(b)
        if b != "board" and pa and pb and pa != pb:
            g.setdefault(pa, set()).add(pb)
    return g


# ---------------------------------------------------------------- the rules, on the firmware


def test_every_firmware_module_has_a_floor():
    loose = [m for m in modules() if part(m) is None and m not in GROUND]
    assert not loose, "modules outside every floor: %s" % loose


def test_no_import_goes_up_a_floor():
    bad = upward(edges())
    assert not bad, "\n".join(bad)


def test_the_ui_reads_the_domain_only_through_state():
    bad = ui_reaches_past_state(edges())
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules():
    found = cycles(module_graph(edges()))
    assert not found, "\n".join(" -> ".join(c) for c in found)


def test_no_import_cycle_between_packages():
    found = cycles(package_graph(edges()))
    assert not found, "\n".join(" -> ".join(c) for c in found)


# ---------------------------------------------------------------- the checker itself


def test_the_checker_sees_an_upward_import_a_cycle_and_a_ui_shortcut(tmp_path):
    fw = tmp_path / "fw"
    for rel, text in {
        "ihd/__init__.py": "",
        "ihd/runtime/__init__.py": "",
        "ihd/runtime/log.py": "def f():\n    from ihd.ui import screens\n",
        "ihd/ui/__init__.py": "",
        "ihd/ui/screens.py": "from ihd.meters import service\nfrom . import a\n",
        "ihd/ui/a.py": "from ihd.ui.screens import x\n",
        "ihd/meters/__init__.py": "",
        "ihd/meters/service.py": "import board\n",
    }.items():
        p = fw / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    mods = modules(str(fw))
    e = edges(mods)
    up = upward(e)
    assert any(
        s.startswith("ihd.runtime.log:2 imports ihd.ui.screens (ui above runtime)") for s in up
    )
    assert any("ihd.meters.service:1 imports board" in s for s in up)
    assert ui_reaches_past_state(e) == [
        "ihd.ui.screens:1 imports ihd.meters.service"
        " (the UI reads the domain only through ihd.state)"
    ]
    cyc = cycles(module_graph(e))
    assert cyc == [["ihd.ui.screens", "ihd.ui.a", "ihd.ui.screens"]]
