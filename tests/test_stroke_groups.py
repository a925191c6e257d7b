"""core/stroke_groups.py: where a drawing of several digits is cut into digits."""

from __future__ import annotations

import numpy as np

from core import stroke_groups as G
from core.stroke_groups import group_strokes, merge_to


def line(*pts) -> np.ndarray:
    return np.array(pts, dtype=np.float64)


FOUR = [line((60, 40), (30, 150), (120, 150)), line((100, 60), (100, 230))]  # "L" part, then the long stroke
ONE = [line((200, 40), (200, 230))]
SEVEN = [line((240, 40), (330, 40), (270, 230))]


def test_a_four_of_two_strokes_is_one_digit():
    assert group_strokes(FOUR) == [[0, 1]]


def test_a_one_next_to_a_seven_is_two_digits():
    assert group_strokes(ONE + SEVEN) == [[0], [1]]


def test_touching_neighbours_are_two_digits():
    zero = [line((20, 40), (0, 135), (20, 230), (90, 230), (110, 135), (90, 40), (20, 40))]
    touching_one = [line((112, 40), (112, 230))]  # its ink touches the 0's at the pen's width
    assert group_strokes(zero + touching_one) == [[0], [1]]


def test_a_one_drawn_over_again_is_one_digit_and_two_ones_are_two():
    """Two narrow strokes could never join (neither holds the other's centre): a "1" traced twice read "11", sure
    (hostile review). Centres within RETRACE * MIN_WIDTH of the height join; a written "11" stays two."""
    again = [line((100, 50), (100, 250)), line((101, 50), (100, 250))]
    assert group_strokes(again) == [[0, 1]]
    assert group_strokes([line((100, 50), (100, 250)), line((104, 52), (103, 248))] + SEVEN) == [[0, 1], [2]]
    assert group_strokes([line((100, 50), (100, 250)), line((130, 50), (130, 250))]) == [[0], [1]]  # "11"
    assert group_strokes([line((100, 50), (100, 250)), line((112, 50), (112, 250))]) == [[0], [1]]  # close "11"


def test_groups_run_left_to_right_whatever_the_drawing_order():
    shifted = [s + np.array([320.0, 0.0]) for s in FOUR]  # right of the seven
    assert group_strokes(SEVEN + shifted + ONE) == [[3], [0], [1, 2]]


def test_a_crossed_seven_and_a_five_flag_join_their_digit():
    seven_bar = [line((240, 40), (330, 40), (270, 230)), line((250, 135), (320, 135))]
    five = [line((100, 40), (40, 40), (35, 120), (100, 130), (100, 220), (30, 220)), line((40, 40), (110, 40))]
    assert group_strokes(five + seven_bar) == [[0, 1], [2, 3]]


def test_nothing_drawn_is_no_groups():
    assert group_strokes([]) == []


def plain_loop(parts: list[np.ndarray]) -> list[list[int]]:
    """The grouping written as the plain loop it replaced: merge the first joining pair, start again."""
    min_w = G.MIN_WIDTH * max(np.ptp(np.concatenate(parts)[:, 1]), 1.0)
    groups = [[k] for k in range(len(parts))]
    spans = [(float(p[:, 0].min()), float(p[:, 0].max())) for p in parts]
    while True:
        pairs = ((i, j) for i in range(len(groups)) for j in range(i + 1, len(groups)))
        nxt = lambda i, j: 1 in (abs(groups[i][-1] - groups[j][0]), abs(groups[j][-1] - groups[i][0]))  # noqa: E731
        hit = next(((i, j) for i, j in pairs if G.joins(spans[i], spans[j], min_w, nxt(i, j))), None)
        if hit is None:
            return [groups[g] for g in sorted(range(len(groups)), key=lambda g: spans[g][0] + spans[g][1])]
        i, j = hit
        groups[i] = sorted(groups[i] + groups.pop(j))
        a, b = spans[i], spans.pop(j)
        spans[i] = (min(a[0], b[0]), max(a[1], b[1]))


def test_the_grouping_merges_exactly_as_the_plain_loop():
    # random scribbles of 1-40 strokes, narrow and wide, overlapping or not, in random drawing order
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        parts = []
        for _ in range(n):
            x = rng.uniform(0, 400)
            w = rng.choice([rng.uniform(0, 8), rng.uniform(10, 120)])
            parts.append(line((x, rng.uniform(0, 100)), (x + w, rng.uniform(100, 250))))
        assert group_strokes(parts) == plain_loop(parts)


def test_five_hundred_strokes_cost_a_few_hundred_matrix_rows(monkeypatch):
    # 220 strokes side by side, then 280 piled on one spot: the plain loop rescanned every pair after each of the
    # 279 merges (10 s); here each merge computes one row and one column of the join matrix
    parts = [line((30.0 * k, 0), (30.0 * k + 10, 100)) for k in range(220)] + [line((-500, 0), (-440, 100))] * 280
    calls = []
    real = G.joins_many
    monkeypatch.setattr(G, "joins_many", lambda *a: calls.append(1) or real(*a))
    groups = group_strokes(parts)
    assert groups[0] == list(range(220, 500)) and groups[1:] == [[k] for k in range(220)]
    assert len(calls) <= 499 + 2 * 279


def test_merge_to_joins_the_closest_neighbours():
    parts = [line((0, 0), (50, 100)), line((60, 0), (70, 100)), line((200, 0), (250, 100))]
    assert merge_to(parts, [[0], [1], [2]], 2) == [[0, 1], [2]]
    assert merge_to(parts, [[0], [1], [2]], 1) == [[0, 1, 2]]
