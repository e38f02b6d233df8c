"""The competition logo, drawn by the project (no third-party artwork), byte-reproducible."""

from __future__ import annotations

import io

import numpy as np


def draw_logo(title: str = "MIA") -> bytes:
    """A 256×256 PNG: two overlapping score distributions (members vs non-members) and a title.

    Drawn with matplotlib's Agg backend and no PNG metadata, so the bytes depend only on the
    inputs and the matplotlib version.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.linspace(-4, 6, 400)
    outside = np.exp(-0.5 * x**2)
    inside = np.exp(-0.5 * (x - 2.2) ** 2)
    fig = plt.figure(figsize=(2.56, 2.56), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_facecolor("#10243e")
    ax.fill_between(x, outside, color="#4da3ff", alpha=0.85, linewidth=0)
    ax.fill_between(x, inside, color="#ff8a3d", alpha=0.75, linewidth=0)
    ax.axvline(1.1, color="white", linewidth=2, linestyle="--")
    ax.text(
        0.5,
        0.86,
        title,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="white",
        fontsize=26,
        fontweight="bold",
    )
    ax.set_xlim(-4, 6)
    ax.set_ylim(0, 1.45)
    ax.axis("off")
    fig.patch.set_facecolor("#10243e")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None}, facecolor=fig.get_facecolor())
    plt.close(fig)
    return buffer.getvalue()
