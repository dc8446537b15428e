"""The README's model table, from the registry and `assets/MANIFEST.jsonl` (`python -m engine models --markdown`).

Figures are never typed into the README by hand: a trained-here model's figure is its registry metric,
which its task package reads from the manifest line of its weights (`manifest.recorded_metric`), and the
weights' size is read from that line too. Other models' figures are published ones or what this project
saw on the sample photos, as their registry entry states. `tests/test_readme.py` checks that the block
between MARKERS in README.md equals this module's output, so the two cannot drift apart.
"""

from __future__ import annotations

import pathlib

from engine.core import manifest

MARKERS = ("<!-- models:begin (python -m engine models --markdown) -->", "<!-- models:end -->")
CARDS = manifest.MANIFEST_PATH.parent.parent / "docs" / "models"  # one card per trained-here model


def card_for(name: str, cards: pathlib.Path = CARDS) -> pathlib.Path | None:
    """The model card of `name`: docs/models/NAME.md, else the card of the family it belongs to
    ("classloc-a0.1" -> classloc.md, "mask-rcnn-instances" -> mask-rcnn.md); None without one."""
    for stem in (name, name.rsplit("-", 1)[0]):
        if (cards / f"{stem}.md").is_file():
            return cards / f"{stem}.md"
    return None


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _weights(row: dict, entries: dict[str, dict]) -> str:
    """Where the model's first weight source is, with a trained-here file's size from its manifest line."""
    source = row["sources"][0]
    kind, reference = source["kind"], source["reference"]
    if kind == "project":
        entry = entries.get(reference)
        size = f", {entry['bytes'] / 1e6:.2f} MB" if entry else ", no manifest line"
        return f"`assets/{reference}` (trained here{size})"
    if kind == "package":
        from engine.core import assets

        try:
            return f"`{reference}` from `{assets.asset_spec(reference).package.requirement}`"
        except Exception:  # an asset without a package entry: name the file only
            return f"`{reference}`"
    if kind == "hub":
        return f"TF Hub `{reference}` (network)"
    return f"Keras Applications `{reference}` (network once)"


def markdown(rows: list[dict], entries: dict[str, dict], cards: pathlib.Path = CARDS) -> str:
    """The table for `rows` (`registry.describe_all()`) and `entries` (`manifest.entries()`), in MARKERS."""
    header = "| task | model | what it is | weights | measured (trained here: from `assets/MANIFEST.jsonl`) | card |"
    lines = [MARKERS[0], header, "|---|---|---|---|---|---|"]
    for row in rows:
        card = card_for(row["name"], cards)
        link = f"[{card.stem}](docs/models/{card.name})" if card else "-"
        cells = (row["task"], f"`{row['name']}`", row["title"], _weights(row, entries), row["metric"], link)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines.append(MARKERS[1])
    return "\n".join(lines) + "\n"


def current() -> str:
    """The table for the models registered now and the manifest as committed."""
    from engine.core import registry

    return markdown(registry.describe_all(), manifest.entries())


def readme_block(readme_text: str) -> str:
    """The README's block between MARKERS, markers included (empty when they are missing)."""
    begin, end = readme_text.find(MARKERS[0]), readme_text.find(MARKERS[1])
    if begin < 0 or end < begin:
        return ""
    return readme_text[begin : end + len(MARKERS[1])] + "\n"
