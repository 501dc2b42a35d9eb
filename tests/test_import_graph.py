"""trainforge's modules import one another without a circle.

The layers contract (.importlinter) keeps imports pointing down between layers, and its
``acyclic_siblings`` contract keeps sibling packages and modules free of circles; neither
sees a circle through a package's own ``__init__`` (a package importing a module that
imports the package back). This test looks at every module: the import graph, function-level
imports included (they are circles too, only deferred), must sort topologically. Imports
under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import itertools
from graphlib import CycleError, TopologicalSorter

import grimp


def _circle_text(graph: grimp.ImportGraph, circle: list[str]) -> str:
    # CycleError gives the circle as [a, b, ..., a], each module imported by the one after it.
    steps = []
    for imported, importer in itertools.pairwise(circle):
        lines = sorted(
            detail["line_number"]
            for detail in graph.get_import_details(importer=importer, imported=imported)
        )
        steps.append(f"{importer} imports {imported} (line {', '.join(map(str, lines))})")
    return "\n".join(steps)


def test_the_import_graph_of_trainforge_has_no_circle() -> None:
    graph = grimp.build_graph("trainforge", exclude_type_checking_imports=True, cache_dir=None)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    assert len(imports) > 100  # the whole package was read, not an empty graph

    try:
        order = list(TopologicalSorter(imports).static_order())
    except CycleError as exc:
        circle = exc.args[1]
        raise AssertionError(f"import circle:\n{_circle_text(graph, circle)}") from None
    assert set(order) == set(imports)
