"""`python -m engine sentiment TEXT [--json]`: the text CNN's label, probabilities and evidence.

TEXT "-" reads standard input, `--file PATH` a file; both must be UTF-8 (up to 10 MB, of which the
first 10,000 characters are read, with a notice on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys


def _sentiment(args: argparse.Namespace) -> int:
    from engine.core import registry
    from engine.core.cli import read_input_file
    from engine.core.errors import InvalidInput
    from engine.data import text as text_data
    from engine.text import sentiment as text

    if args.file is not None:
        content = text_data.decode_text(read_input_file(args.file, text_data.MAX_TEXT_BYTES))
    elif args.text == "-":
        content = text_data.decode_text(sys.stdin.buffer.read(text_data.MAX_TEXT_BYTES + 1))
    elif args.text is None:
        raise InvalidInput(
            'Give the text to read: python -m engine sentiment "TEXT" (or - for stdin, or --file PATH).'
        )
    else:
        content = args.text
    registry.get_spec(args.model)  # an unknown name fails here, listing the known ones
    result = text.sentiment(content, args.model)  # checks the text before loading TensorFlow
    if result.notice:
        print(f"notice: {result.notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    print(f"{result.label} ({result.model}, {result.ms:.1f} ms)")
    for label, probability in result.probabilities.items():
        print(f"  {probability:6.1%}  {label}")
    for item in result.evidence:
        print(f"  filter {item.filter:3d}  {item.weight:+.3f}  {item.ngram!r}")
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("sentiment", help="sentiment of a text, with the n-grams that decided it")
    parser.add_argument("text", nargs="?", help='the text, or "-" to read standard input')
    parser.add_argument("--file", help="read the text from this UTF-8 file instead")
    parser.add_argument("--model", default="text-cnn")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_sentiment)
