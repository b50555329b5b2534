"""The package's import graph points one way: no module imports, directly or through others, a module
that imports it back (function-local imports included)."""

import ast
from pathlib import Path

import act_bench

PACKAGE = Path(act_bench.__file__).parent


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def import_graph():
    """{module: set of act_bench modules it imports}."""
    modules = {module_name(p): p for p in PACKAGE.rglob('*.py')}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').startswith('act_bench'):
                for alias in node.names:   # `from act_bench.runtime import distributed` names a module
                    sub = f'{node.module}.{alias.name}'
                    edges.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith('act_bench')}
            assert not (isinstance(node, ast.ImportFrom) and node.level), f'{name}: use absolute imports'
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def cycles(graph):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert len(graph) > 30   # every module was found
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def layer(module):
    """runtime < data < config, layout, settings (the resolved runs, where their files are, their digests), methods (what config
    checks of a method) < training < evaluation < report, perf < cli."""
    ranks = {'runtime': 0, 'data': 1, 'config': 2, 'layout': 2, 'settings': 2, 'methods': 2, 'training': 3, 'evaluation': 4, 'report': 5,
             'perf': 5, 'cli': 6}
    return ranks[module.split('.')[1]] if module.count('.') else 6


def test_lower_layers_do_not_import_higher_ones():
    for module, imports in import_graph().items():
        for other in imports:
            assert layer(other) <= layer(module), f'{module} imports {other}, a higher layer'
