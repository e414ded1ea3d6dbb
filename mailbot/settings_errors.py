"""One line per settings mistake, for the config file and complaints policies alike.

Both the config (`mailbot.config`) and a policy (`mailbot.procedure.policy`) are pydantic
models read from TOML. `problem_lines` turns every error of a `ValidationError` into one line
`key.path: what is wrong; the fix`, e.g.

    mailbox[0].pasword_env: unknown key; did you mean 'password_env'?
    mailbox[0].port: must be a whole number, got "imap"
    mailbox[0].host: required key is missing; add it (see config.example.toml)

and `SettingsError` carries those lines. Keys are quoted 'like this', values as TOML writes
them ("text", 3, true). This module sits low in the layering: it imports only pydantic.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from mailbot.errors import MailbotError

__all__ = ["RULE", "SettingsError", "problem_lines", "rule", "show_value"]

RULE = "settings_rule"


class SettingsError(MailbotError):
    """Mistakes in a settings file; `problems` holds each one as one line.

    str() is one line: the first problem, with `source: ` in front when the file is known and
    a count of the others at the end. `lines()` gives every problem, each with the source.
    """

    def __init__(self, problems: Iterable[str] | str, *, source: str = "") -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        self.source = source
        first = self.problems[0] if self.problems else "invalid settings"
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{self._where(first)}{tail}")

    def _where(self, line: str) -> str:
        return f"{self.source}: {line}" if self.source else line

    def lines(self) -> list[str]:
        """Every problem, one line each, with the source in front when it is known."""
        return [self._where(line) for line in self.problems] or [str(self)]


def rule(message: str, at: str = "") -> PydanticCustomError:
    """A mistake found by a model validator; `at` ("stages", "mailboxes.1.name") extends the
    key path from the model to the key that must change."""
    return PydanticCustomError(RULE, message.replace("{", "(").replace("}", ")"), {"at": at})


def show_value(value: object) -> str:
    """A value as the user wrote it in TOML, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        text = json.dumps(list(value), ensure_ascii=False, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def problem_lines(
    exc: ValidationError,
    root: type[BaseModel],
    *,
    prefix: str = "",
    rename: Mapping[str, str] | None = None,
    see: str = "",
) -> list[str]:
    """Every error in `exc` (raised validating `root`) as one line `key.path: problem; fix`.

    `prefix` goes in front of every key path ("policy"); `rename` maps a top-level field name
    to the key written in TOML ({"mailboxes": "mailbox"}); `see` names where the valid keys
    are documented, for unknown and missing keys.
    """
    rename = rename or {}
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == RULE and ctx.get("at"):
            loc += tuple(int(p) if p.isdigit() else p for p in str(ctx["at"]).split("."))
        shown = (rename.get(str(loc[0]), loc[0]), *loc[1:]) if loc else loc
        lines.append(f"{_key_path(prefix, shown)}: {_message(err, loc, root, rename, see)}")
    return lines


def _key_path(prefix: str, loc: Sequence[int | str]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _message(
    err: ErrorDetails,
    loc: tuple[int | str, ...],
    root: type[BaseModel],
    rename: Mapping[str, str],
    see: str,
) -> str:
    kind, value = err["type"], err.get("input")
    got = f", got {show_value(value)}"
    also = f" (see {see})" if see else ""
    if kind == "extra_forbidden":
        valid = _keys_at(root, loc[:-1])
        if valid is None:
            return f"unknown key; remove it{also}"
        if len(loc) == 1:
            valid = [rename.get(name, name) for name in valid]
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        if close:
            return f"unknown key; did you mean '{close[0]}'?"
        return f"unknown key; remove it, or use one of: {', '.join(valid)}"
    if kind == "missing":
        return f"required key is missing; add it{also}"
    if kind in ("value_error", "assertion_error", RULE):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith("bool"):
        return f"must be true or false{got}"
    if kind == "string_type":
        return f"must be a string in quotes{got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table of keys{got}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list{got}"
    if kind == "literal_error":
        return f"must be one of {(err.get('ctx') or {}).get('expected', '')}{got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number{got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind.startswith("time"):
        return f"must be a time of day such as 08:00:00{got}"
    msg = str(err["msg"])
    if msg.startswith("Input should be "):
        msg = "must be " + msg.removeprefix("Input should be ")
    return f"{msg}{got}"


def _keys_at(root: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    """Valid key names of the table at `loc` below `root`, for "did you mean" hints."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) in (tuple, list) and isinstance(part, int):
            current = get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [name for name, field in current.model_fields.items() if not field.exclude]
    return None


def _unwrap(annotation: Any) -> Any:
    """The model inside `Annotated[...]` or `X | None`; anything else unchanged."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if isinstance(a, type) and a is not type(None)]
        return models[0] if models else annotation
    return annotation
