"""Run many `python -m engine ...` command lines in one process, each as a process would see it.

    python -m tests.hostile.cli_driver CASES.json RESULTS.json

CASES.json holds a list of argument lists. For each, file descriptors 1 and 2 point at fresh
temporary files while `engine.cli.main` runs (it re-points fd 2 itself, as in a real run), and an
exception escaping `main` is printed as Python would print it. RESULTS.json gets
[{"argv", "code", "stdout", "stderr"}] in order. One interpreter start instead of hundreds keeps
the test short; tests/hostile/test_hostile_cli.py also runs real subprocesses for a sample.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback


def run_one(argv: list[str]) -> dict:
    from engine import cli

    saved = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = os.fdopen(os.dup(1), "w", buffering=1)
        sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
        try:
            code = cli.main(argv)
        except SystemExit as leaving:  # argparse errors
            code = leaving.code if isinstance(leaving.code, int) else 1
        except BaseException:  # what the interpreter would print: a traceback
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
                if stream not in saved_streams:
                    stream.close()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
        out.seek(0)
        err.seek(0)
        return {
            "argv": argv,
            "code": code,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def main() -> None:
    with open(sys.argv[1]) as handle:
        cases = json.load(handle)
    results = [run_one(argv) for argv in cases]
    with open(sys.argv[2], "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
