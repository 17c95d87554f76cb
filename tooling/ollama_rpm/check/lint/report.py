"""Lint results: per-file counts and messages, and their text/JSON/JUnit forms."""

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

# One rpmlint diagnostic: "<pkg>[.<arch>]:[<line>:] <E|W|I>: <check-id>[ (Badness: N)][ details]"
MESSAGE_RE = re.compile(r"^(?P<package>[^\s:]+):(?:(?P<line>\d+):)? (?P<level>[EWI]): "
                        r"(?P<check>\S+)(?: \(Badness: \d+\))?(?P<detail>.*)$")


@dataclass
class Message:
    level: str          # E, W or I
    check: str          # rpmlint check id, e.g. world-writable
    package: str        # rpmlint's name for the checked item: ollama.x86_64, ollama.spec
    detail: str
    line: int = 0       # spec line, when rpmlint gives one
    source: str = "rpmlint"     # or "ollama-rpm" for the checks rpmlint lacks

    @property
    def text(self) -> str:
        where = f"{self.package}:{self.line}:" if self.line else f"{self.package}:"
        return f"{where} {self.level}: {self.check}{' ' + self.detail if self.detail else ''}"

    @classmethod
    def parse(cls, line: str) -> "Message | None":
        match = MESSAGE_RE.match(line.rstrip("\n"))
        if not match:
            return None
        return cls(level=match["level"], check=match["check"], package=match["package"],
                   detail=match["detail"].strip(), line=int(match["line"] or 0))


@dataclass
class FileResult:
    path: str
    errors: int = 0
    warnings: int = 0
    filtered: int = 0
    messages: list[Message] = field(default_factory=list)


@dataclass
class Report:
    files: list[FileResult]
    strict: bool = False

    @property
    def errors(self) -> int:
        return sum(f.errors for f in self.files)

    @property
    def warnings(self) -> int:
        return sum(f.warnings for f in self.files)

    @property
    def filtered(self) -> int:
        return sum(f.filtered for f in self.files)

    @property
    def failed(self) -> bool:
        return self.errors > 0 or (self.strict and self.warnings > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "rpmlint",
            "strict": self.strict,
            "result": "fail" if self.failed else "pass",
            "totals": {"files": len(self.files), "errors": self.errors,
                       "warnings": self.warnings, "filtered": self.filtered},
            "files": [{"path": f.path, "errors": f.errors, "warnings": f.warnings,
                       "filtered": f.filtered,
                       "messages": [dict(asdict(m), text=m.text) for m in f.messages]}
                      for f in self.files],
        }


class _Counts(Protocol):
    @property
    def errors(self) -> int: ...
    @property
    def warnings(self) -> int: ...
    @property
    def filtered(self) -> int: ...


def _counts(obj: _Counts) -> str:
    return f"{obj.errors} errors, {obj.warnings} warnings, {obj.filtered} filtered"


def to_text(report: Report) -> str:
    lines: list[str] = []
    for result in report.files:
        lines.append(f"{result.path}: {_counts(result)}")
        lines += [f"  {m.text}" for m in result.messages if m.level in "EW"]
    verdict = "FAILED" if report.failed else "passed"
    mode = " (strict: warnings fail)" if report.strict else ""
    lines.append(f"lint {verdict}{mode}: {len(report.files)} files; {_counts(report)}")
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"


def to_junit(report: Report) -> str:
    """One <testsuite> per file, one <testcase> per diagnostic (or one passing case).

    Errors are <failure>s; warnings are failures under --strict, else passing
    cases carrying the message in <system-out>. The rpmlint counts are
    <properties> of each suite.
    """
    root = ET.Element("testsuites", name="rpmlint", tests="0", failures="0", errors="0")
    total_tests = total_failures = 0
    for result in report.files:
        suite = ET.SubElement(root, "testsuite", name=result.path)
        props = ET.SubElement(suite, "properties")
        for key in ("errors", "warnings", "filtered"):
            ET.SubElement(props, "property", name=f"rpmlint.{key}", value=str(getattr(result, key)))
        shown = [m for m in result.messages if m.level in "EW"]
        failures = 0
        for message in shown:
            case = ET.SubElement(suite, "testcase", classname=result.path,
                                 name=f"{message.check} {message.detail}".strip())
            if message.level == "E" or report.strict:
                failures += 1
                failure = ET.SubElement(case, "failure", type=message.check,
                                        message=message.text)
                failure.text = message.text
            else:
                ET.SubElement(case, "system-out").text = message.text
        if not shown:
            ET.SubElement(suite, "testcase", classname=result.path, name="rpmlint")
        tests = max(len(shown), 1)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        total_tests += tests
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {"text": to_text, "json": to_json, "junit": to_junit}
