"""Small statistics shared by the store's GetStats and the agent's evaluation summary (no grpc)."""

from __future__ import annotations

import math


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate `wins / n` (z=1.96: 95%).

    Unlike the normal approximation it stays inside [0, 1] and is sensible for small `n` and for
    rates of 0 or 1, which is what small evaluations produce. With no episodes (`n == 0`) nothing is
    known, so the interval is the whole range (0.0, 1.0).
    """
    if n < 0 or wins < 0 or wins > n:
        raise ValueError(f"need 0 <= wins <= n, got wins={wins}, n={n}")
    if z <= 0:
        raise ValueError(f"z must be positive, got {z}")
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # Clamp away rounding noise (e.g. 1.0000000000000002) at the ends.
    return max(0.0, centre - half_width), min(1.0, centre + half_width)
