"""What ``analyze`` writes: tables in three formats, figures, and a report with every section."""

import base64
import re

from hdfbench.analysis.report import SECTIONS

TABLES = ("main_table", "per_class_recall", "per_class_difference", "statistics", "ranks")


def test_tables_are_written_as_csv_markdown_and_latex(known_analysis):
    out = known_analysis.out_dir / "tables"
    for name in TABLES:
        csv, md, tex = (out / f"{name}.{ext}" for ext in ("csv", "md", "tex"))
        assert csv.stat().st_size > 0 and md.stat().st_size > 0
        assert "|" in md.read_text()
        latex = tex.read_text()
        assert r"\begin{table}" in latex and r"\toprule" in latex and "±" not in latex
    assert (known_analysis.out_dir / "summary_table.csv").exists()
    statistics = (out / "statistics.md").read_text()
    assert "Nadeau-Bengio corrected t" in statistics and "p (Holm)" in statistics


def test_figures_are_written_non_empty(known_analysis):
    names = {f.name for f in known_analysis.figures}
    expected = {
        "recall_vs_frequency",
        "class_counts",
        "group_accuracy_source",
        "group_accuracy_subject",
        "uar_distribution",
        "recall_heatmap_d1",
        "recall_difference_d1",
        "confusion_d1",
        "training_curves",
        "groupdro_q",
        "cd_diagram",
    }
    assert expected <= names, expected - names
    for figure in known_analysis.figures:
        assert figure.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.png.stat().st_size > 5000
        assert "<svg" in figure.svg.read_text()[:1000]
        assert figure.caption
    assert not [n for n in known_analysis.notes if "failed" in n]


def test_figure_colours_are_consistent():
    from hdfbench.analysis.figure_style import palette

    assert palette(["erm", "better"])["erm"] == palette(["erm", "better", "same"])["erm"]


def test_report_has_every_section(known_analysis):
    md = (known_analysis.out_dir / "report.md").read_text()
    page = (known_analysis.out_dir / "report.html").read_text()
    for _, heading in SECTIONS:
        assert f"## {heading}" in md and f"<h2>{heading}</h2>" in page
    assert "Missing (not finished): none" in md and "commit" in md
    assert "survive Holm at α = 0.05" in md and "better (UAR, d1" in md
    assert "primary test Nadeau-Bengio corrected t: seeds averaged within each fold" in md
    assert "one Holm family per metric over every primary comparison" in md
    assert md.count("Mean ranks of test UAR") == 1  # one caption, not repeated by the figure
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == len(known_analysis.figures)
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "src='figures" not in page  # self-contained
    for figure in known_analysis.figures:
        assert f"figures/{figure.name}.png" in md


def test_differences_keep_their_sign_and_decimals_in_every_format(tmp_path):
    import pandas as pd

    from hdfbench.analysis.formatting import ci, signed, write_table

    assert [signed(v) for v in (0.0483, -0.004, -0.00001, 0.0)] == ["+4.83", "−0.40", "0.00", "0.00"]
    assert ci(-0.0123, 0.0456) == "[−1.23, +4.56]"
    display = pd.DataFrame({"Δ (pp)": [signed(0.048), signed(-0.004), signed(0.05)]})
    table = write_table(tmp_path, "t", display, display, "caption")
    markdown = (tmp_path / "t.md").read_text()
    assert "+4.80" in markdown and "−0.40" in markdown and "+5.00" in markdown
    assert "$-$0.40" in (tmp_path / "t.tex").read_text()
    assert table.markdown.count("|") > 3


def test_captions_never_compare_a_thing_with_itself():
    import pandas as pd

    from hdfbench.analysis.captions import per_class_caption

    per_class = pd.DataFrame({"class": ["a"], "variant": ["v"], "recall_mean": [0.5], "support": [10]})
    gain_only = pd.DataFrame({"class": ["a"], "variant": ["v"], "difference_mean": [0.03]})
    text = per_class_caption(gain_only, per_class, "erm")
    assert "largest gain over erm: v on a (+3.00 pp)" in text and "loss" not in text
