"""The README's result tables agree with the shipped results (results/<name>/), issue 14."""

from __future__ import annotations

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
