"""Reading a YAML spec file (a rollout's, an experiment's) into its contract, with every problem
named by where it is."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Spec = TypeVar("Spec", bound=BaseModel)


def load_spec_file(path: Path, model: type[Spec], error: type[ValueError], top_level: str) -> Spec:
    """`path` read as `model`; `error(message)` when it cannot be. `top_level` says what the
    document must be a mapping of ("route and candidate")."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise error(f"{path}: expected a mapping with {top_level}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc']) or 'spec'}: {problem['msg']}"
            for problem in exc.errors()
        )
        raise error(f"{path}: {problems}") from None
