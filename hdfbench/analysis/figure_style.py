"""Shared look of the analysis figures: one colour per variant everywhere, PNG + SVG output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never open a window, also on machines with a display

import matplotlib.pyplot as plt
import seaborn as sns

DPI = 110


@dataclass
class Figure:
    """A written figure: its name, report section, caption and files."""

    name: str
    section: str
    caption: str
    png: Path
    svg: Path


def palette(variants: list[str]) -> dict[str, tuple]:
    """Return variant → colour, in variant order (the reference first), the same in every figure."""
    name = "tab10" if len(variants) <= 10 else ("tab20" if len(variants) <= 20 else "husl")
    colours = sns.color_palette(name, len(variants))
    return dict(zip(variants, colours))


def setup() -> None:
    """Apply the seaborn theme used by every figure."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.9)


def save(fig, out_dir: Path, name: str, section: str, caption: str) -> Figure:
    """Write ``fig`` as ``name``.png and .svg under ``out_dir``, close it, and return the record."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=DPI, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return Figure(name, section, caption, png, svg)
