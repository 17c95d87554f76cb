"""The grammar of every value that reaches ollama.spec, one validator per kind.

The spec is code: rpm expands `%{...}` and runs `%(...)` while parsing, a newline
starts a new tag or scriptlet, and %prep/%build/%install are shell. So nothing from
packaging.yaml, an upstream tarball or the network goes into the template unless it
matches the grammar of its kind, checked with re.fullmatch (re.match with `$` takes a
trailing newline) and ASCII classes (`\\d` takes Arabic-Indic digits).

Each validator returns None when the value is fine, else what was expected (the
caller names file and key). The only macros any value may use are MACRO_ALLOW_LIST.
"""

import re
from collections.abc import Sequence

# rpm macros a packager may write in a value, with the kinds that take them: Fedora
# names its ROCm GPU list and compiler directory with these. Nothing else expands.
MACRO_ALLOW_LIST = ("%{rocm_gpu_list_default}", "%{rocmllvm_bindir}")

# What rpm (and most file systems) can take as one Version or file name component.
MAX_LENGTH = 200

_MACRO = re.compile("|".join(re.escape(m) for m in MACRO_ALLOW_LIST))
_A = re.ASCII

_NAME = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+~-]*", _A)
_SIMPLE = re.compile(_NAME, _A)
_SPDX = re.compile(r"[A-Za-z0-9(][A-Za-z0-9.+():-]*(?: [A-Za-z0-9(][A-Za-z0-9.+():-]*)*", _A)
_DEP = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+()/:-]*(?: (?:<|>|<=|>=|=) [A-Za-z0-9_.+~^:-]+)?", _A)
_RICH = re.compile(r"\([A-Za-z0-9_.+()/:<>= -]*\)", _A)
_GLOB = re.compile(r"[A-Za-z0-9_.*?+-]+(?:/[A-Za-z0-9_.*?+-]+)*", _A)
_CMAKE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", _A)
# Words of [A-Za-z0-9_.,:/=+@^~-] separated by single spaces: no quote, $, `, ;, |, &,
# <, >, \, glob or brace, so the shell line `-DNAME="value"` stays one argument.
_CMAKE_VALUE = re.compile(r"[A-Za-z0-9_.,:/=+@^~-]+(?: [A-Za-z0-9_.,:/=+@^~-]+)*", _A)
_GPU_TARGET = re.compile(r"[A-Za-z0-9_.:+-]+", _A)
_URL = re.compile(r"(?:https?|file)://[A-Za-z0-9._~:/?#@!&+,;=-]+", _A)
_HTTPS_URL = re.compile(r"https://[A-Za-z0-9._~:/?#@!&+,;=-]+", _A)
_EMAIL = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", _A)
_ABS_PATH = re.compile(r"/[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*", _A)
_GO_VERSION = re.compile(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?", _A)
_GO_VARIABLE = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.[A-Za-z_][A-Za-z0-9_]*", _A)
_GO_IMPORT_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", _A)
_SONAME = re.compile(r"lib[A-Za-z0-9_+-]+\.so(?:\.[0-9]{1,6}){0,4}", _A)
_EVR = re.compile(r"[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+", _A)
_RPM_VERSION = re.compile(r"[A-Za-z0-9._+~^]+", _A)


def _plain(value: object, kind: str, macros: bool = False, max_length: int = MAX_LENGTH) -> str | None:
    """The common rules: a string, one line, printable, bounded, no `%` but allowed macros."""
    if not isinstance(value, str):
        return f"{kind} (a string)"
    if not value or value != value.strip():
        return f"{kind} without leading or trailing blanks"
    if len(value) > max_length:
        return f"{kind} of at most {max_length} characters"
    if not value.isprintable():
        return f"{kind} on one line without control characters"
    rest = _MACRO.sub("", value) if macros else value
    if "%" in rest:
        allowed = ", ".join(MACRO_ALLOW_LIST) if macros else "none"
        return f"{kind} without rpm macros (`%`; allowed: {allowed})"
    return None


def _match(pattern: re.Pattern[str], value: object, kind: str, macros: bool = False,
           max_length: int = MAX_LENGTH) -> str | None:
    problem = _plain(value, kind, macros, max_length)
    if problem:
        return problem
    # An allowed macro stands for one word of safe characters.
    candidate = _MACRO.sub("M", str(value)) if macros else str(value)
    return None if pattern.fullmatch(candidate) else kind


def _no_dotdot(value: str, kind: str) -> str | None:
    return kind if any(part in ("", ".", "..") for part in value.split("/")) else None


# Validators take what YAML or the network gave (any type) and return None, or what
# was expected. Past _plain()/_match() returning None the value is a str.
def text(value: object, kind: str = "one line of text") -> str | None:
    """Free text of a tag value or changelog line: anything printable but `%`."""
    return _plain(value, kind)


def summary(value: object) -> str | None:
    kind = "one line of text without % or a trailing period"
    return _plain(value, kind) or (kind if str(value).endswith(".") else None)


def changelog_line(value: object) -> str | None:
    kind = "one changelog line of text without % (not starting with *)"
    return _plain(value, kind) or (kind if str(value).startswith("*") else None)


def person(value: object) -> str | None:
    """A packager name: free text without the <> that delimit the e-mail."""
    kind = "a name without %, < or >"
    return _plain(value, kind) or (kind if any(c in str(value) for c in "<>") else None)


def name(value: object, kind: str = "a name of letters, digits and . _ + -") -> str | None:
    return _match(_SIMPLE, value, kind)


def file_name(value: object, kind: str = "a file name of letters, digits and . _ + ~ -") -> str | None:
    problem = _match(_FILE_NAME, value, kind)
    return problem or (kind if value in (".", "..") else None)


def relative_path(value: object, kind: str = "a relative path of file names (no .., no leading /)") -> str | None:
    """A path the spec's shell sees, made of file-name components."""
    problem = _plain(value, kind)
    if problem:
        return problem
    path = str(value)
    if path.startswith("/") or _no_dotdot(path, kind):
        return kind
    return next((kind for part in path.split("/") if file_name(part)), None)


def patch_path(value: object) -> str | None:
    kind = "a relative path to a .patch file (file names, no .., no leading /)"
    return relative_path(value, kind) or (None if str(value).endswith(".patch") else kind)


# A License: tag covering vendored Go modules and bundled C/C++ code runs long
# (Fedora has tags of over 1000 characters); it is still one line.
MAX_LICENSE_LENGTH = 4000


def spdx(value: object) -> str | None:
    return _match(_SPDX, value, "an SPDX license expression", max_length=MAX_LICENSE_LENGTH)


def dependency(value: object) -> str | None:
    return _match(_DEP, value, "an rpm dependency like name, pkgconfig(x) or name >= 1.2")


# rpm's boolean operators: `and`, `or` and `with` chain (a or b or c); `if` and
# `unless` take one `else`; `without` takes exactly two operands. One operator per
# parenthesis level: rpm refuses (a or b and c). In a reverse dependency
# (Supplements, Enhances) rpm refuses `if` at any level ("use 'and' instead").
_CHAINING = ("and", "or", "with")
_CONDITIONAL = ("if", "unless")
_REVERSE_ILLEGAL = ("if",)
_OPERATORS = (*_CHAINING, *_CONDITIONAL, "without", "else")
_COMPARISON = ("<", ">", "<=", ">=", "=")
_DEP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/:-]*(?:\([A-Za-z0-9_.+/:-]*\))*", _A)
_DEP_EVR = re.compile(r"[A-Za-z0-9_.+~^:-]+", _A)   # [epoch:]version[-release] after a comparison
_RICH_TOKEN = re.compile(r"\s+|[()]|[^\s()]+(?:\([^\s()]*\))*", _A)


def _rich_tokens(value: str) -> list[str] | None:
    tokens: list[str] = []
    position = 0
    while position < len(value):
        found = _RICH_TOKEN.match(value, position)
        if not found:
            return None
        if not found.group().isspace():
            # A name with its own parentheses (pkgconfig(foo)) is one token.
            tokens.append(found.group())
        position = found.end()
    return tokens


def _rich_group(tokens: Sequence[str], at: int) -> int | None:
    """Parse `( operand op operand ... )` from tokens[at]; the index after it, or None."""
    if at >= len(tokens) or tokens[at] != "(":
        return None
    operators: list[str] = []
    after = _rich_operand(tokens, at + 1)
    while after is not None and after < len(tokens) and tokens[after] in _OPERATORS:
        operators.append(tokens[after])
        after = _rich_operand(tokens, after + 1)
    if after is None or after >= len(tokens) or tokens[after] != ")" or not _one_operator(operators):
        return None
    return after + 1


def _one_operator(operators: list[str]) -> bool:
    if not operators:
        return True
    first = operators[0]
    if first in _CHAINING:
        return all(op == first for op in operators)
    if first in _CONDITIONAL:
        return operators in ([first], [first, "else"])
    return operators == ["without"]


def _rich_operand(tokens: Sequence[str], at: int) -> int | None:
    if at >= len(tokens):
        return None
    if tokens[at] == "(":
        return _rich_group(tokens, at)
    if tokens[at] in _OPERATORS or tokens[at] == ")" or not _DEP_NAME.fullmatch(tokens[at]):
        return None
    at += 1
    if at < len(tokens) and tokens[at] in _COMPARISON:
        if at + 1 >= len(tokens) or not _DEP_EVR.fullmatch(tokens[at + 1]):
            return None
        at += 2
    return at


def reverse_rich_dependency(value: object) -> str | None:
    """A Supplements/Enhances value: a parenthesised rich dependency rpm accepts there."""
    kind = "a rich rpm dependency like (a or b), one operator per parenthesis level, no `if`"
    problem = _match(_RICH, value, kind)
    if problem:
        return problem
    tokens = _rich_tokens(str(value))
    if not tokens or any(token in _REVERSE_ILLEGAL for token in tokens):
        return kind
    return None if _rich_group(tokens, 0) == len(tokens) else kind


def runtime_glob(value: object) -> str | None:
    """A file glob below a backend's runner directory, as `rm -rf` sees it."""
    kind = "a file glob inside the runner directory (letters, digits, . _ + - * ?; no .., no leading /)"
    problem = _match(_GLOB, value, kind)
    if problem:
        return problem
    glob = str(value)
    if _no_dotdot(glob, kind):
        return kind
    # "*" alone, or ".*", would remove the whole directory or hidden entries wholesale.
    return kind if any(part.strip("*?.") == "" for part in glob.split("/")) else None


def cmake_name(value: object) -> str | None:
    return _match(_CMAKE_NAME, value, "a CMake variable name (letters, digits, _)")


def cmake_value(value: object) -> str | None:
    return _match(_CMAKE_VALUE, value, "a CMake value of words without quotes or shell metacharacters",
                  macros=True)


def gpu_target(value: object) -> str | None:
    return _match(_GPU_TARGET, value, "a GPU architecture like 86, 90a, 50-virtual or gfx90a:xnack-",
                  macros=True)


def url(value: object, https_only: bool = False) -> str | None:
    if https_only:
        return _match(_HTTPS_URL, value, "an https:// URL without %, quotes, spaces or $")
    return _match(_URL, value, "an https://, http:// or file:// URL without %, quotes, spaces or $")


def email(value: object) -> str | None:
    return _match(_EMAIL, value, "an e-mail address")


# Domains reserved for examples and tests (RFC 2606, RFC 6761): an address there
# is a placeholder, never a packager's.
_RESERVED_DOMAINS = ("example", "invalid", "test", "localhost", "example.com", "example.net", "example.org")


def placeholder_email(value: object) -> str | None:
    """Why `value`'s e-mail domain is a placeholder (an RFC 2606/6761 reserved name), or None."""
    domain = str(value).rsplit("@", 1)[-1].rstrip(">").strip().lower()
    for reserved in _RESERVED_DOMAINS:
        if domain == reserved or domain.endswith("." + reserved):
            return f"a real e-mail address, not one at the reserved domain {reserved!r}"
    return None


def absolute_path(value: object) -> str | None:
    kind = "an absolute path of file names (no ..)"
    return _match(_ABS_PATH, value, kind) or _no_dotdot(str(value)[1:], kind)


def go_version(value: object) -> str | None:
    return _match(_GO_VERSION, value, "a Go version like 1.26")


def go_variable(value: object) -> str | None:
    return _match(_GO_VARIABLE, value, "a Go variable importpath.Name")


def go_import_path(value: object) -> str | None:
    kind = "a Go import path like github.com/ollama/ollama/x/foo"
    return _match(_GO_IMPORT_PATH, value, kind) or _no_dotdot(str(value), kind)


def evr(value: object) -> str | None:
    return _match(_EVR, value, "version-release like 0.32.15-1")


def rpm_version(value: object) -> str | None:
    return _match(_RPM_VERSION, value, f"an rpm version of at most {MAX_LENGTH} characters")


def go_test_regex(value: object) -> str | None:
    """A `go test -skip` regex: it lands in the spec inside single quotes."""
    kind = "a test-name regex (no quotes, spaces or %)"
    if value is None:
        return kind
    if _plain(value, kind) or not isinstance(value, str) or not re.fullmatch(r"[!-~]+", value, _A) or "'" in value:
        return kind
    try:
        re.compile(value)
    except re.error as error:
        return f"a valid regex ({error})"
    return None


def soname(value: object) -> str | None:
    return _match(_SONAME, value, "a library soname like libcuda.so.1")
