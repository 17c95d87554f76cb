"""Text for people, shaped once for every command: column tables and redacted secrets."""

import re
from collections.abc import Iterable, Sequence

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of every non-empty secret replaced by ***.

    One pass, longest secret first: a token that contains another secret is hidden
    whole, and a replacement is never searched again. Short secrets are hidden too;
    a garbled message is better than a leaked one.
    """
    found = sorted({s for s in secrets if s}, key=lambda s: (-len(s), s))
    if not found:
        return text
    return re.sub("|".join(map(re.escape, found)), REDACTED, text)


def table(header: Sequence[str], rows: Iterable[Sequence[str]], *, rule: bool = False) -> list[str]:
    """Aligned columns, two spaces apart; the last column is left ragged and no line
    ends in blanks. `rule`: a line of dashes under the header, as wide as each column
    (the last one: as its heading)."""
    body = [tuple(row) for row in rows]
    for row in body:
        if len(row) != len(header):
            raise ValueError(f"table row {row!r}: {len(row)} cells for {len(header)} columns")
    widths = [max(len(row[i]) for row in (tuple(header), *body)) for i in range(len(header) - 1)]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=True)]
        return "  ".join([*padded, cells[-1]]).rstrip()

    lines = [line(header)]
    if rule:
        lines.append(line([*("-" * width for width in widths), "-" * len(header[-1])]))
    return lines + [line(row) for row in body]
