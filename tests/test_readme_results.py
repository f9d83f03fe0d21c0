"""The README's result tables agree with the shipped results (results/<name>/), issue 14."""

from __future__ import annotations

import re

from paper_figures import readme_tables
from tests.conftest import REPO


def test_the_readme_shows_every_shipped_table():
    blocks = readme_tables.readme_blocks((REPO / "README.md").read_text())
    shipped = {p.name for p in (REPO / "results").iterdir() if (p / "runs").is_dir()}
    assert shipped and shipped <= set(blocks), (shipped, set(blocks))


def test_the_readme_tables_equal_the_shipped_results():
    text = (REPO / "README.md").read_text()
    for name, body in readme_tables.readme_blocks(text).items():
        assert body == readme_tables.TABLES[name](), f"README table results:{name} differs from results/{name}"


def test_check_fails_when_a_number_in_the_readme_is_changed(tmp_path, capsys):
    text = (REPO / "README.md").read_text()
    body = readme_tables.readme_blocks(text)["fashion_mnist"]
    changed = text.replace(body, body.replace("| 9", "| 8", 1))
    assert changed != text
    (tmp_path / "README.md").write_text(changed)
    assert readme_tables.main(["--check", "--readme", str(tmp_path / "README.md")]) == 1
    assert "readme_tables.py --write" in capsys.readouterr().err
    assert readme_tables.main(["--write", "--readme", str(tmp_path / "README.md")]) == 0
    assert (tmp_path / "README.md").read_text() == text


#: Words that state a finding (a comparison, a verdict, an effect size); the Results section may use them only inside
#: its generated blocks, where each follows from the shipped numbers through the tested rule.
FINDING = re.compile(
    r"\b(more|less|as) robust\b|\blos(e|es|ing)\b|does not change|\bas in the paper\b|too short|"
    r"significant|\bholds?\b|contradict|inconclusive|no difference|\bthe science\b|\d\s?%|\d points?\b|"
    r"\bbetter\b|\bworse\b|spot check",
    re.I,
)


def test_the_results_section_states_findings_only_in_its_generated_blocks():
    """Issue 20: every sentence of the README's results section that states a finding follows from the shipped numbers
    through the tested rule; hand-written text there describes the recipe and points to the generated blocks only (it
    said "the evidence that this does not change the science is below" and "the shipped run is far too short to say
    anything about the optimizers")."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Results\n") :]
    section = section[: section.index("\n## ", 1)]
    hand = readme_tables.MARKER.sub("", section)
    found = [hand[max(0, m.start() - 50) : m.end() + 30].replace("\n", " ") for m in FINDING.finditer(hand)]
    assert not found, found
    generated = readme_tables.readme_blocks(section)["fashion_mnist"]
    assert "tests/test_claims.py" in generated and "tests/test_precision_report.py" in generated  # each names its test
