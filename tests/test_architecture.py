"""The package's shape: layers that import only those below them, one direction
of imports, no private names across modules, no module too long to read."""

import ast
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 400


def _modules():
  out = {}
  for path in sorted(glob.glob(os.path.join(ROOT, "lstm_init", "**", "*.py"), recursive=True)):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    out[rel.removesuffix(".__init__")] = path
  return out


def _imports(path):
  """(module imported, name or None, inside a function?) for every lstm_init import."""
  tree = ast.parse(open(path).read())
  found = []

  def walk(node, in_function):
    for child in ast.iter_child_nodes(node):
      inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
      if isinstance(child, ast.ImportFrom) and (child.module or "").startswith("lstm_init"):
        for a in child.names:
          target = f"{child.module}.{a.name}" if child.module == "lstm_init" else child.module
          found.append((target, a.name, inside))
      elif isinstance(child, ast.Import):
        found.extend((a.name, None, inside) for a in child.names
                     if a.name.startswith("lstm_init"))
      walk(child, inside)

  walk(tree, False)
  return found


def test_imports_go_one_way_and_at_the_top():
  mods = _modules()
  graph = {}
  for name, path in mods.items():
    deps = set()
    for target, _, inside in _imports(path):
      assert not inside, f"{name} imports {target} inside a function"
      if target in mods and target != name:
        deps.add(target)
    graph[name] = deps
  state = {}

  def visit(m, stack):
    assert state.get(m) != 1, "import cycle: " + " -> ".join(stack + [m])
    if state.get(m) == 2:
      return
    state[m] = 1
    for d in sorted(graph[m]):
      visit(d, stack + [m])
    state[m] = 2

  for m in graph:
    visit(m, [])


# What each layer may import (besides itself): the base modules (errors, file
# records) import nothing of the package; core imports only the base; the report
# reads workdirs without the engine that wrote them.
BASE = {"lstm_init.errors", "lstm_init.records", "lstm_init.fields", "lstm_init.dotted"}
ALLOWED = {"base": set(), "core": {"base"}, "training": {"base", "core"},
           "report": {"base", "core"}, "engine": {"base", "core", "training", "report"},
           "studies": {"base", "core", "training", "report", "engine"},
           # the flag-free Python API (lstm_init.config, lstm_init.sweep), on top
           "api": {"base", "core", "training", "report", "engine", "studies"}}


def _layer(module):
  if module in BASE:
    return "base"
  parts = module.split(".")
  return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_each_layer_imports_only_the_layers_below_it():
  mods = _modules()
  assert {_layer(m) for m in mods} - {None} == set(ALLOWED), sorted(mods)
  unplaced = [m for m in mods if _layer(m) is None and m != "lstm_init"]
  assert not unplaced, f"modules outside the layers: {unplaced}"
  for name, path in mods.items():
    mine = _layer(name)
    if mine is None:  # the package's own __init__ re-exports the public API
      continue
    for target, _, _ in _imports(path):
      theirs = _layer(target if target in mods else target.rpartition(".")[0])
      assert theirs == mine or theirs in ALLOWED[mine], (
          f"{name} ({mine}) imports {target} ({theirs})")


# Inside the engine, roles in order: each imports only its own and those before it.
ENGINE_ROLES = ("runtime", "spec", "persist", "execute", "top")


def _role(module):
  parts = module.split(".")
  return parts[2] if len(parts) > 2 and parts[2] in ENGINE_ROLES else "top"


def test_the_engines_roles_import_only_those_below_them():
  mods = _modules()
  engine = {m: p for m, p in mods.items() if m.startswith("lstm_init.engine.")}
  assert {_role(m) for m in engine} == set(ENGINE_ROLES), sorted(engine)
  for name, path in engine.items():
    mine = ENGINE_ROLES.index(_role(name))
    for target, _, _ in _imports(path):
      module = target if target in mods else target.rpartition(".")[0]
      if module.startswith("lstm_init.engine.") and module in mods:
        assert ENGINE_ROLES.index(_role(module)) <= mine, f"{name} imports {module}"


def test_the_report_and_core_stay_light():
  """`import lstm_init` and the report load neither the engine nor the experiments."""
  code = ("import sys, lstm_init, lstm_init.report.document; "
          "print(sorted(m for m in sys.modules if m.startswith(('lstm_init.engine', "
          "'lstm_init.training'))))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == "[]", out.stdout


def _closure(graph, start):
  seen, todo = set(), [start]
  while todo:
    for d in graph[todo.pop()]:
      if d not in seen:
        seen.add(d)
        todo.append(d)
  return seen


def test_no_private_name_crosses_a_module_boundary():
  mods = _modules()
  for name, path in mods.items():
    for target, imported, _ in _imports(path):
      assert not (imported or "").startswith("_"), f"{name} imports {target}.{imported}"
    tree = ast.parse(open(path).read())
    aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and n.module == "lstm_init" for a in n.names}
    for node in ast.walk(tree):
      if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
          and node.value.id in aliases and node.attr.startswith("_")
          and not node.attr.startswith("__")):
        raise AssertionError(f"{name} uses {node.value.id}.{node.attr}")


def test_no_module_is_too_long_to_read():
  lengths = {name: sum(1 for _ in open(path)) for name, path in _modules().items()}
  long = {n: k for n, k in lengths.items() if k > MAX_LINES}
  assert not long, long


def test_tests_use_public_names_only():
  """Tests check public behaviour: no `module._private` of the package in tests/."""
  for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*.py"))):
    tree = ast.parse(open(path).read())
    aliases = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstm_init"):
        aliases |= {a.asname or a.name for a in node.names}
      elif isinstance(node, ast.Import):
        aliases |= {a.asname or a.name for a in node.names if a.name.startswith("lstm_init")}
    for node in ast.walk(tree):
      if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
          and node.value.id in aliases and node.attr.startswith("_")
          and not node.attr.startswith("__")):
        raise AssertionError(f"{os.path.basename(path)}:{node.lineno} uses "
                             f"{node.value.id}.{node.attr}")
