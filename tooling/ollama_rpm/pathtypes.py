"""Type names shared by the typed modules."""

import os
from typing import TypeAlias

# What the toolkit accepts wherever it takes a file name: text or a Path.
StrPath: TypeAlias = str | os.PathLike[str]
