"""Run every benchmark module (or those named on the command line): python -m bench [NAME ...]."""

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).parent


def main(names: list[str]) -> int:
    modules = sorted(path.stem for path in HERE.glob("bench_*.py"))
    chosen = [name for name in modules if not names or name.removeprefix("bench_") in names or name in names]
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
