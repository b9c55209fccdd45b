"""A problem found in a config: which file, where in it (JSON path), what is wrong, what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from multiscale_run.errors import UserError


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str
    expected: str = ""

    def __str__(self) -> str:
        text = f"{self.file}: {self.path or '(top level)'}: {self.message}"
        return f"{text} ({self.expected})" if self.expected else text


class ConfigError(UserError):
    """One or more problems in a config; ``str()`` gives one line per problem."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.message, first.file, first.path)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def json_path(parts: Sequence[str | int]) -> str:
    """``['multiscale_run', 'couplings', 2, 'operator']`` -> ``multiscale_run.couplings[2].operator``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
