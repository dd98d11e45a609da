"""The base class of the errors tokendistill raises for a user's mistake, not for a bug of its own.

The command line prints these as one line (``tokendistill: error: ...``) and exits with status 2; anything
else is a bug and keeps its traceback. Imports nothing, so every layer can raise them.
"""

from __future__ import annotations

from typing import Any


class TokendistillError(Exception):
    """Bad input data, a bad config, an unknown task or option: the message says what and where.

    Subclasses may take their own constructor arguments: pickling (a stage that fails in a worker process
    sends its error back to the runner) restores the arguments and attributes without calling ``__init__``.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type[TokendistillError], args: tuple[Any, ...], state: dict[str, Any]) -> TokendistillError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error
