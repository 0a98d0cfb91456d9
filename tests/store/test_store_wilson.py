import math

import pytest

from alfagent_common.stats import wilson_interval


def _roots(wins: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's bounds from their definition: the p where (p_hat - p)^2 = z^2 p (1 - p) / n."""
    p_hat = wins / n
    # (1 + z^2/n) p^2 - (2 p_hat + z^2/n) p + p_hat^2 = 0
    a, b, c = 1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("wins", "n"), [(5, 10), (0, 10), (10, 10), (81, 100), (1, 1), (3, 250)])
def test_bounds_solve_the_wilson_equation(wins: int, n: int) -> None:
    low, high = wilson_interval(wins, n)
    expected_low, expected_high = _roots(wins, n, 1.96)
    assert math.isclose(low, max(0.0, expected_low), abs_tol=1e-12)
    assert math.isclose(high, min(1.0, expected_high), abs_tol=1e-12)


def test_closed_forms_at_zero_and_all_wins() -> None:
    z2 = 1.96**2
    assert math.isclose(wilson_interval(0, 10)[1], z2 / (10 + z2))
    assert math.isclose(wilson_interval(10, 10)[0], 10 / (10 + z2))
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    # A textbook value: 0 successes in 10 gives [0, 0.2775].
    assert round(wilson_interval(0, 10)[1], 4) == 0.2775


def test_no_episodes_means_nothing_is_known() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_interval_contains_the_rate_and_narrows_with_n() -> None:
    widths = []
    for n in (10, 100, 1000):
        low, high = wilson_interval(n // 4, n)
        assert 0.0 <= low <= 0.25 <= high <= 1.0
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True)


def test_wider_z_gives_a_wider_interval() -> None:
    low95, high95 = wilson_interval(30, 60)
    low99, high99 = wilson_interval(30, 60, z=2.576)
    assert low99 < low95 and high99 > high95


@pytest.mark.parametrize(("wins", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_rejects_impossible_counts(wins: int, n: int) -> None:
    with pytest.raises(ValueError, match="wins"):
        wilson_interval(wins, n)
