"""Checks for the durations a user passes (flags and environment): finite, in range.

`nan` compares false with everything and `inf` overflows time.sleep(), so both get
past a plain `<= 0` test; here they are refused with the name of the setting.
"""

import math

from ollama_rpm.errors import UsageError

# Longest accepted duration: a week covers any build wait; more is a typo.
MAX_SECONDS = 7 * 24 * 3600


def seconds(value: object, name: str, *, allow_zero: bool = False, env: bool = False) -> float:
    """`value` (a number or text) as float seconds, or UsageError naming `name`
    (an environment variable when `env`, else a flag)."""
    label = f"{name}={str(value)[:40]}" if env else f"{name} {value!r}"
    what = "a number of seconds" + (" (0: no limit)" if allow_zero else " above 0")
    try:
        number = float(value)  # type: ignore[arg-type]  # TypeError below
    except (TypeError, ValueError):
        raise UsageError(f"{label}: expected {what}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero) or number > MAX_SECONDS:
        raise UsageError(f"{label}: expected {what}, at most {MAX_SECONDS}")
    return number
