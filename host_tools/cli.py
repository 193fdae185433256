# What every host CLI does with bad input (issue 15): `--help` exits 0; a usage error, a missing
# file, a bad scenario, a board that is not there... is ONE clear line on stderr and a non-zero
# exit, never a traceback; a closed stdout pipe (`... | head -1`) ends the tool quietly.
#   @cli.guarded("simulate", expected=(SimulationError,))
#   def main(argv=None): ...            # -> exit code, whichever way the tool ends
#   if __name__ == "__main__":
#       sys.exit(main())
# The guard is on `main` itself, so `python -m host_tools.X` and an installed entry point
# (pyproject [project.scripts] "host_tools.X:main") behave the same.
# Inside a tool: cli.fail("message") (or raise cli.CliError) for a bad input; cli.ArgumentParser
# for one-line usage errors. Exceptions that are not bad input (bugs) keep their traceback.
# Standard library only: `make upy32-compile` runs tools before the venv exists.
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence, Tuple, Type

USAGE_EXIT = 2  # argparse's code for a usage error
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class CliError(Exception):
    # A bad input or an unusable environment: `message` is shown as one line, `code` is the
    # exit status.
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    raise CliError(message, code)


class ArgumentParser(argparse.ArgumentParser):
    # A usage error is one line on stderr, exit 2 (argparse's default prints the usage first).
    # Subparsers made from it are of this class too (argparse's default parser_class).
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, "%s: error: %s (--help for usage)\n" % (self.prog, message))


def one_line(text: Any) -> str:
    # The last non-empty line of a (possibly multi-line) message, stripped: what a tool shows of
    # a subprocess's stderr or an exception whose text spans lines.
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def describe(e: BaseException) -> str:
    # One line for an exception that is a bad input: OSError as "PATH: reason".
    if isinstance(e, OSError) and e.strerror:
        where = e.filename if e.filename is not None else ""
        return "%s: %s" % (where, e.strerror) if where else e.strerror
    return one_line(e) or type(e).__name__


def last_line_of(path: str) -> str:
    # The last non-empty line of a (log) file, "" if it cannot be read.
    try:
        with open(path, errors="replace") as f:
            return one_line(f.read()[-8192:])
    except OSError:
        return ""


def _stdout_closed() -> bool:
    # True when stdout is a pipe whose reader has gone (poll reports POLLERR on its write end):
    # tells a closed `| head` from a broken pipe to a subprocess or a socket.
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False  # not a file descriptor (captured): the broken pipe was another one
    try:
        import select

        p = select.poll()
        p.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in p.poll(0))
    except (AttributeError, OSError, ValueError):
        return True  # no poll(): take it for stdout


def quiet_stdout() -> None:
    # After a BrokenPipeError on stdout: point it at /dev/null so that the interpreter's final
    # flush does not raise again ("Exception ignored ... BrokenPipeError"). As the Python docs
    # (signal module, "Note on SIGPIPE") recommend.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


def error_line(prog: str, message: str) -> None:
    try:
        sys.stderr.write("%s: error: %s\n" % (prog, message))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def main_guard(
    main: Callable[..., Optional[int]],
    prog: str,
    argv: Optional[Sequence[str]] = None,
    expected: Tuple[Type[BaseException], ...] = (),
) -> int:
    # Runs main(argv) (main() when argv is None) and turns the ways a CLI ends into exit codes:
    #   CliError, SystemExit("text"), OSError and the `expected` exception types: one line
    #     "PROG: error: ..." on stderr, exit 1 (a CliError's own code);
    #   BrokenPipeError on stdout (reader gone): quiet, exit 1;
    #   KeyboardInterrupt: "PROG: interrupted", exit 130.
    # SystemExit with a number (argparse's --help 0 and usage 2) passes through as the code.
    try:
        rc = main() if argv is None else main(list(argv))
        sys.stdout.flush()  # a closed pipe shows here when the output was buffered
        return int(rc or 0)
    except BrokenPipeError as e:
        if _stdout_closed():
            quiet_stdout()
            return 1
        error_line(prog, describe(e))
        return 1
    except KeyboardInterrupt:
        error_line(prog, "interrupted")
        return INTERRUPTED_EXIT
    except CliError as e:
        error_line(prog, one_line(e) or "failed")
        return e.code
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        error_line(prog, one_line(e.code))
        return 1
    except (OSError, *expected) as e:
        error_line(prog, describe(e))
        return 1


def guarded(prog: str, expected: Tuple[Type[BaseException], ...] = ()):
    # Decorator for a tool's main(argv=None): main_guard around every call.
    def wrap(main: Callable[..., Optional[int]]) -> Callable[..., int]:
        @functools.wraps(main)
        def guarded_main(argv: Optional[Sequence[str]] = None) -> int:
            return main_guard(main, prog, argv, expected)

        return guarded_main

    return wrap
