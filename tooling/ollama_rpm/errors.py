"""Error types and the exit codes the CLI maps them to.

Every failure a user can cause ends as one line on stderr naming the file, key or
value at fault and what was expected, with a distinct exit code, never a traceback.
"""

# Exit codes shared by all subcommands.
EXIT_OK = 0
EXIT_FAILED = 1          # the check ran and found a problem (drift, lint errors, build failure)
EXIT_CONFIG = 2          # bad input: config, arguments, unreadable files
EXIT_TOOL = 3            # an external tool is missing or crashed
EXIT_NETWORK = 4         # download / API failure
EXIT_INTEGRITY = 5       # checksum mismatch, unsafe archive
EXIT_INTERRUPTED = 130   # Ctrl-C (128 + SIGINT, as shells report it)


class OllamaRpmError(Exception):
    """Base class: str(error) is the one line shown to the user."""

    exit_code = EXIT_FAILED


class ConfigError(OllamaRpmError):
    exit_code = EXIT_CONFIG

    def __init__(self, source: object, key: str | None, message: str) -> None:
        self.source = str(source)
        self.key = key
        self.message = message
        where = f"{self.source}: {key}" if key else self.source
        super().__init__(f"{where}: {message}")


class UsageError(OllamaRpmError):
    exit_code = EXIT_CONFIG


class ToolError(OllamaRpmError):
    exit_code = EXIT_TOOL


class NetworkError(OllamaRpmError):
    exit_code = EXIT_NETWORK


class IntegrityError(OllamaRpmError):
    exit_code = EXIT_INTEGRITY
