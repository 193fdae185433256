# Dirty-rectangle list shared by the display drivers: widgets mark what they drew, the driver
# pushes only those regions. Fixed capacity, preallocated; overlapping or touching rectangles are
# merged, and when the list is full everything collapses into one bounding box.
# MIT license
from array import array

from micropython import const

_CAP = const(8)


class Dirty:
    def __init__(self, width, height):
        self.width = width
        self.height = height
        self.n = 0
        self.r = array("h", bytes(2 * 4 * _CAP))  # x0, y0, x1, y1 (exclusive) per entry

    def clear(self):
        self.n = 0

    def all(self):
        self.n = 1
        r = self.r
        r[0] = 0
        r[1] = 0
        r[2] = self.width
        r[3] = self.height

    def add(self, x, y, w, h):
        x0 = x if x > 0 else 0
        y0 = y if y > 0 else 0
        x1 = x + w
        y1 = y + h
        if x1 > self.width:
            x1 = self.width
        if y1 > self.height:
            y1 = self.height
        if x1 <= x0 or y1 <= y0:
            return
        r = self.r
        i = 0
        while i < self.n:
            j = 4 * i
            # Merge when the rectangles overlap or touch.
            if x0 <= r[j + 2] and r[j] <= x1 and y0 <= r[j + 3] and r[j + 1] <= y1:
                if r[j] < x0:
                    x0 = r[j]
                if r[j + 1] < y0:
                    y0 = r[j + 1]
                if r[j + 2] > x1:
                    x1 = r[j + 2]
                if r[j + 3] > y1:
                    y1 = r[j + 3]
                # Remove entry i (move the last one here) and retry against the rest.
                self.n -= 1
                k = 4 * self.n
                r[j] = r[k]
                r[j + 1] = r[k + 1]
                r[j + 2] = r[k + 2]
                r[j + 3] = r[k + 3]
                i = 0
                continue
            i += 1
        if self.n == _CAP:
            # Full: collapse everything into one bounding box.
            for i in range(self.n):
                j = 4 * i
                if r[j] < x0:
                    x0 = r[j]
                if r[j + 1] < y0:
                    y0 = r[j + 1]
                if r[j + 2] > x1:
                    x1 = r[j + 2]
                if r[j + 3] > y1:
                    y1 = r[j + 3]
            self.n = 0
        j = 4 * self.n
        r[j] = x0
        r[j + 1] = y0
        r[j + 2] = x1
        r[j + 3] = y1
        self.n += 1

    def area(self):
        s = 0
        r = self.r
        for i in range(self.n):
            j = 4 * i
            s += (r[j + 2] - r[j]) * (r[j + 3] - r[j + 1])
        return s


class DirtyPanel:
    # Mixin for the panel drivers: the display loop marks changed rectangles, show() pushes the
    # whole frame. The driver provides self.dirty (a Dirty), width, height and show_rect().
    # (Bare annotations: declarations for the checker, no code in MicroPython.)
    dirty: Dirty
    width: int
    height: int

    def show_rect(self, x, y, w, h):
        # The driver's: push one rectangle; -> the bytes sent.
        raise NotImplementedError

    def mark(self, x, y, w, h):
        self.dirty.add(x, y, w, h)

    def mark_all(self):
        self.dirty.all()

    def show(self):
        self.dirty.clear()
        return self.show_rect(0, 0, self.width, self.height)
