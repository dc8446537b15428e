"""README.md's model table is the output of `python -m engine models --markdown`, so its figures cannot drift
from `assets/MANIFEST.jsonl`."""

import json
import re
import subprocess
import sys

from engine.core import manifest, model_table
from tests.conftest import ROOT


def test_readme_model_table_is_the_commands_output():
    command = subprocess.run(
        [sys.executable, "-m", "engine", "models", "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    block = model_table.readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert block, "README.md lacks the markers of the model table"
    assert block == command.stdout, (
        "README.md's model table is stale: paste `python -m engine models --markdown`"
    )


def test_trained_here_rows_show_their_manifest_figures_and_card():
    rows = json.loads(
        subprocess.run(
            [sys.executable, "-m", "engine", "models", "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    table = model_table.markdown(rows, manifest.entries())
    entries = manifest.entries()
    project = [row for row in rows if row["sources"][0]["kind"] == "project"]
    assert len(project) >= 17
    for row in project:
        line = next(line for line in table.splitlines() if f"| `{row['name']}` |" in line)
        assert model_table.card_for(row["name"]) is not None, f"{row['name']} has no card under docs/models/"
        assert "docs/models/" in line
        figures = re.findall(r"\d\.\d{3,4}", entries[row["sources"][0]["reference"]]["metric"])
        shown = re.findall(r"\d\.\d{3,4}", line)
        for figure in figures[:1]:  # the headline figure, as recorded (text-cnn rounds it to 3 places)
            assert any(figure.startswith(value) for value in shown), (row["name"], figure, line)


def test_readme_block_is_found_only_between_both_markers():
    begin, end = model_table.MARKERS
    assert model_table.readme_block(f"x\n{begin}\n| a |\n{end}\ny") == f"{begin}\n| a |\n{end}\n"
    assert model_table.readme_block(f"{end}\n{begin}") == ""
    assert model_table.readme_block("no table") == ""
