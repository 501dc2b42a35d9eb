"""docs/configuration.md cannot drift from the settings models: its tables are the models'
fields rendered, and every TRAINFORGE_* name the code spells is in it.

Regenerate the tables after changing a model: ``python -m tests.test_configuration_doc``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from trainforge.client.settings import ClientSettings
from trainforge.node.settings import AgentSettings, NodeSettings
from trainforge.schemas.settings import RunContext, TrainforgeSettings
from trainforge.server.settings import ControlPlaneSettings

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "configuration.md"
README = REPO / "README.md"
# Which model each generated table shows.
TABLES: dict[str, type[TrainforgeSettings]] = {
    "client": ClientSettings,
    "control-plane": ControlPlaneSettings,
    "node": NodeSettings,
    "run": RunContext,
    "agent": AgentSettings,
}
BLOCK = re.compile(
    r"(<!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END -->)", re.S
)


def _default(field: object) -> str:
    if getattr(field, "default_factory", None) is not None:
        return "in the text"
    default = getattr(field, "default", PydanticUndefined)
    if default is PydanticUndefined:
        return "set by trainforge"
    if default is None or default == "":
        return "unset"
    return f"`{default}`"


def table(model: type[TrainforgeSettings]) -> str:
    rows = ["| variable | what it sets | default |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{model.variable(name)}` | {meaning} | {_default(field)} |")
    return "\n".join(rows) + "\n"


def rendered(text: str) -> str:
    return BLOCK.sub(lambda m: m[1] + table(TABLES[m["name"]]) + m[4], text)


def test_the_tables_are_the_models_rendered() -> None:
    text = DOC.read_text()
    assert {m["name"] for m in BLOCK.finditer(text)} == set(TABLES)
    assert rendered(text) == text, "run `python -m tests.test_configuration_doc` to regenerate"


def test_every_variable_the_code_names_is_documented() -> None:
    text = DOC.read_text()
    spelled = {
        name
        for path in (REPO / "trainforge").rglob("*.py")
        for name in re.findall(r"TRAINFORGE_[A-Z][A-Z_]*[A-Z]", path.read_text())
    }
    from_models = {model.variable(name) for model in TABLES.values() for name in model.model_fields}
    missing = sorted(name for name in spelled | from_models if f"`{name}`" not in text)
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_every_user_facing_field_has_a_description() -> None:
    for model in (ClientSettings, ControlPlaneSettings, NodeSettings):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} says nothing for the docs"


def test_the_readme_links_the_page() -> None:
    assert "docs/configuration.md" in README.read_text()


if __name__ == "__main__":
    DOC.write_text(rendered(DOC.read_text()))
    sys.exit(0)
