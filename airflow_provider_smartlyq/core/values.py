"""
Read the values DAG authors and connections hand the provider: numbers, flags, lists and dicts.

One reader per kind, so that ``""``, ``"false"`` or ``"['x', 'y']"`` mean the same thing to every
operator, sensor, trigger and connection extra:

* :func:`parse_number`: a finite number in a range (``bool`` is not a number; text only where
  the value comes from text, such as a connection extra);
* :func:`parse_bool`: ``True``/``False``, and the words templates and forms render
  (``"true"``/``"false"``, ``"yes"``/``"no"``, ``"on"``/``"off"``, ``"1"``/``"0"``); empty text
  means "not given", so the caller's default applies;
* :func:`parse_list`: a list as given, or as a template rendered it: JSON (``["x", "y"]``), a
  Python literal (``['x', 'y']``: Jinja's text of a list) or, where items cannot contain commas,
  ``"x, y"``;
* :func:`parse_mapping`: a dict as given, or rendered as JSON or a Python literal.

With ``render_template_as_native_obj=True`` on the DAG, Airflow renders lists and dicts as the
objects themselves and these readers pass them through untouched; the text forms are read the
way that native rendering would read them (``ast.literal_eval``). Standard library and the
provider's errors only.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

__all__ = ["parse_bool", "parse_list", "parse_mapping", "parse_number"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_SEPARATORS = re.compile(r"[,\s]+")


def _refuse(message: str) -> SmartlyQValidationError:
    return SmartlyQValidationError.local(message)


def parse_number(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    text: bool = False,
    unit: str = "",
) -> Any:
    """
    Return ``value`` as a finite number within the bounds, refusing anything else.

    :param minimum: Smallest value accepted (inclusive).
    :param above: Value the number must exceed (exclusive), e.g. 0 for an interval.
    :param maximum: Largest value accepted (inclusive).
    :param integer: Accept whole numbers only; the result is an ``int``.
    :param text: Also read digits from a string (connection extras arrive as text).
    :param unit: Word for the message, e.g. ``"seconds"``.
    :raises SmartlyQValidationError: not a number (``True`` is not 1), NaN or infinite, a
        fraction where an integer is asked for, or out of bounds; the message names ``name``
        and what is accepted.
    """
    what = ("an integer" if integer else "a number") + (f" of {unit}" if unit else "")
    bounds = [
        *([f">= {minimum:g}"] if minimum is not None else []),
        *([f"> {above:g}"] if above is not None else []),
        *([f"<= {maximum:g}"] if maximum is not None else []),
    ]
    expected = f"{name} must be {what}" + (f" {' and '.join(bounds)}" if bounds else "")
    number: float | int | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif text and isinstance(value, str) and value.strip():
        try:
            number = int(value.strip()) if integer else float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise _refuse(f"{expected}, got {value!r}")
    try:
        finite = math.isfinite(number)
    except OverflowError:  # an int beyond the float range
        finite = False
    if not finite or (integer and not float(number).is_integer()):
        raise _refuse(f"{expected}, got {value!r}")
    if (
        (minimum is not None and number < minimum)
        or (above is not None and number <= above)
        or (maximum is not None and number > maximum)
    ):
        raise _refuse(f"{expected}, got {value!r}")
    return int(number) if integer else number


def parse_bool(value: object, name: str, *, default: bool | None = None) -> bool:
    """
    Return a flag as a ``bool``: literal, or as a template or a form rendered it.

    :param default: What ``None`` and empty text mean ("not given"); ``None`` refuses them.
    :raises SmartlyQValidationError: anything that is not clearly true or false.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if (value is None or text == "") and default is not None:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _refuse(f"{name} must be True or False, got {value!r}")


def _literal(text: str) -> Any:
    """Return JSON or a Python literal read from ``text``; ``text`` itself when it is neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_list(value: Any, *, split: bool = True) -> Any:
    """
    Return a rendered list as a list; anything else unchanged, for the caller's validator.

    ``None``, lists, tuples and other objects pass through. Text that starts with ``[`` or ``(``
    is read as JSON or a Python literal; with ``split``, other text is split on commas and
    blanks (``"101, 102"``; empty text gives ``[]``). Without ``split`` (URLs may hold commas)
    other text is returned as it is.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith(("[", "(")):
        parsed = _literal(text)
        if isinstance(parsed, (list, tuple)):
            return list(parsed)
        return value  # let the caller's validator name it
    if split:
        return [part for part in _SEPARATORS.split(text) if part]
    return value


def parse_mapping(value: Any) -> Any:
    """Return a rendered dict (JSON or a Python literal) as a dict; anything else unchanged."""
    if isinstance(value, str) and value.strip().startswith("{"):
        parsed = _literal(value.strip())
        if isinstance(parsed, dict):
            return parsed
    return value
