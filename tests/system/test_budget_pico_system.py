# RAM budget on the frozen 32-bit build: the Pico configuration (128x64 mono) under 160K
# (tests/system/budget.py).
from tests.system import budget


def test_day_within_the_boards_heap_on_frozen_32bit(tmp_path):
    budget.day_within_the_boards_heap(tmp_path, "pico")
