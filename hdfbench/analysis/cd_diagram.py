"""Drawing a critical-difference diagram (Demšar 2006) from mean ranks and cliques.

The rank axis runs from 1 (best, left) to k; methods hang from the axis on the left half (best)
and right half (worst); a thick bar joins each clique of methods whose ranks differ by less than
the critical difference, and the CD itself is drawn as a scale bar above the axis. Without a CD
(the omnibus test did not license one) only the mean ranks are drawn.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def draw_cd(
    ranks: pd.Series, cd: float | None, cliques: list[tuple[str, ...]], colours: dict[str, tuple], title: str = ""
):
    """Return a matplotlib figure of the CD diagram of ``ranks`` (lower is better); ``cd`` None: ranks only."""
    order = ranks.sort_values()
    k = len(order)
    height = 1.2 + 0.32 * (k // 2 + 1) + 0.18 * len(cliques)
    fig, ax = plt.subplots(figsize=(7.5, height))
    lo, hi = 1, max(k, 2)
    ax.set_xlim(lo - 0.6, hi + 0.6)
    ax.set_ylim(-(k // 2 + 2) - 0.3 * len(cliques), 1.6)
    ax.axis("off")
    ax.hlines(0, lo, hi, color="black", lw=1)
    for r in range(lo, hi + 1):
        ax.vlines(r, 0, 0.15, color="black", lw=1)
        ax.text(r, 0.25, str(r), ha="center", va="bottom", fontsize=9)
    if cd is not None:  # the CD can exceed the whole rank range: draw the bar clipped and say so
        bar = min(cd, hi - lo)
        ax.hlines(1.1, lo, lo + bar, color="black", lw=2)
        label = f"CD = {cd:.2f}" + (" (wider than the rank range)" if cd > hi - lo else "")
        ax.text(lo + bar / 2, 1.2, label, ha="center", va="bottom", fontsize=9)
    half = (k + 1) // 2
    for i, (name, rank) in enumerate(order.items()):
        left = i < half
        level = -(i + 1) if left else -(k - i)
        x_text = lo - 0.5 if left else hi + 0.5
        colour = colours.get(name, "black")
        ax.plot([rank, rank, x_text], [0, level, level], color=colour, lw=1.2)
        ax.text(
            x_text, level, f"{name} ({rank:.2f})", ha="right" if left else "left", va="center", fontsize=9, color=colour
        )
    for j, clique in enumerate(cliques):
        values = order[list(clique)]
        y = -0.35 - 0.25 * j
        ax.hlines(y, values.min() - 0.03, values.max() + 0.03, color="black", lw=3)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
