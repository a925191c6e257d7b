"""core/stroke_groups.py: where a drawing of several digits is cut into digits."""

from __future__ import annotations

import numpy as np

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


def test_groups_run_left_to_right_whatever_the_drawing_order():
    shifted = [s + np.array([320.0, 0.0]) for s in FOUR]  # right of the seven
    assert group_strokes(SEVEN + shifted + ONE) == [[3], [0], [1, 2]]


def test_a_crossed_seven_and_a_five_flag_join_their_digit():
    seven_bar = [line((240, 40), (330, 40), (270, 230)), line((250, 135), (320, 135))]
    five = [line((100, 40), (40, 40), (35, 120), (100, 130), (100, 220), (30, 220)), line((40, 40), (110, 40))]
    assert group_strokes(five + seven_bar) == [[0, 1], [2, 3]]


def test_nothing_drawn_is_no_groups():
    assert group_strokes([]) == []


def test_merge_to_joins_the_closest_neighbours():
    parts = [line((0, 0), (50, 100)), line((60, 0), (70, 100)), line((200, 0), (250, 100))]
    assert merge_to(parts, [[0], [1], [2]], 2) == [[0, 1], [2]]
    assert merge_to(parts, [[0], [1], [2]], 1) == [[0, 1, 2]]
