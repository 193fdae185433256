# RAM budget on the frozen 32-bit build: the colour configuration (320x240) under 320K
# (tests/system/budget.py).
from tests.system import budget


def test_day_within_the_boards_heap_on_frozen_32bit(tmp_path):
    budget.day_within_the_boards_heap(tmp_path, "colour")
