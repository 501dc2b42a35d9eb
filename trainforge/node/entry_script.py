"""The entry-script contract of scoring code (``score.py``), loaded once: a module-level
``init()`` called once before the first request, ``run(raw_data)`` called per request.

A ``run`` decorated with ``inference_schema``'s ``@input_schema``/``@output_schema`` (the
real ``inference-schema`` package, when the environment has it) is called with the JSON
body's fields as keyword arguments, which the decorators turn into the declared types
(``{"data": [[...]]}`` -> a numpy array); its schemas make the service's swagger. A ``run``
decorated with ``@rawhttp`` gets the request itself. Scoring services and batch scoring
(ParallelRunStep) load entry scripts with this one loader.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

RAW_HTTP_ATTR = "_trainforge_rawhttp"


class EntryScriptError(Exception):
    """The entry script cannot be loaded or its ``init()`` failed; the message carries the
    traceback of the user's code."""


class RequestError(Exception):
    """The request cannot reach ``run``: its body is not JSON, or its fields do not fit."""


@dataclass
class EntryScript:
    path: Path
    module: ModuleType
    run: Callable[..., Any]
    init: Callable[[], Any] | None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    raw_http: bool

    @property
    def takes_fields(self) -> bool:
        """Whether ``run`` takes the JSON body's fields as keywords (schema-decorated)."""
        return self.input_schema is not None


def _schemas(run: Callable[..., Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    try:
        from inference_schema.schema_util import (
            get_input_schema,
            get_output_schema,
            is_schema_decorated,
        )
    except ImportError:  # the environment has no inference-schema: no decorated scripts
        return None, None
    if not is_schema_decorated(run):
        return None, None
    return get_input_schema(run) or None, get_output_schema(run) or None


def _user_traceback(exc: BaseException, path: Path) -> str:
    """The traceback from the entry script's own frames on (the loader's frames left out)."""
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if Path(f.filename) == path), 0)
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames[start:])
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def load(path: Path, source_directory: Path | None = None) -> EntryScript:
    """Import the entry script at ``path`` (its folder, or ``source_directory``, first on
    ``sys.path``) without calling ``init()``."""
    path = path.resolve()
    if not path.is_file():
        raise EntryScriptError(f"entry_script: {path.name!r} is not a file of the source directory")
    root = str((source_directory or path.parent).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location("score", path)
    if spec is None or spec.loader is None:
        raise EntryScriptError(f"entry_script: {path.name!r} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the user's import-time error, with its traceback
        raise EntryScriptError(
            f"Importing the entry script {path.name} failed:\n{_user_traceback(exc, path)}"
        ) from None
    run = getattr(module, "run", None)
    if not callable(run):
        raise EntryScriptError(f"entry_script: {path.name} defines no run(raw_data) function")
    init = getattr(module, "init", None)
    input_schema, output_schema = _schemas(run)
    return EntryScript(
        path=path,
        module=module,
        run=run,
        init=init if callable(init) else None,
        input_schema=input_schema,
        output_schema=output_schema,
        raw_http=bool(getattr(run, RAW_HTTP_ATTR, False)),
    )


def initialize(script: EntryScript) -> None:
    """Call ``init()`` once; EntryScriptError with the user's traceback when it raises."""
    if script.init is None:
        return
    try:
        script.init()
    except BaseException as exc:
        raise EntryScriptError(
            f"The entry script's init() failed:\n{_user_traceback(exc, script.path)}"
        ) from None


def call(script: EntryScript, raw: str) -> Any:
    """``run`` on one request's JSON body ``raw``: its fields as keywords for a
    schema-decorated ``run``, else the text itself (``run(raw_data)``, as the SDK passes it).
    RequestError when ``raw`` is not JSON or its fields do not fit ``run``; what ``run``
    raises goes through."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise RequestError(f"the request body is not JSON: {exc}") from None
    if not script.takes_fields:
        return script.run(raw)
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object of run()'s arguments")
    accepted = inspect.signature(inspect.unwrap(script.run)).parameters
    unknown = [key for key in body if key not in accepted]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise RequestError(
            f"run() takes no argument {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(accepted)}"
        )
    return script.run(**body)
