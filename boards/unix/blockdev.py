# Block devices for the unix board and for tests. Both implement the extended block protocol
# used by vfs.VfsLfs2 (and by the raw key region): readblocks(block, buf, offset),
# writeblocks(block, buf, offset) = program without erase, ioctl(6, block) = erase (to 0xFF),
# ioctl(4) = block count, ioctl(5) = block size, ioctl(1/2/3) init/deinit/sync.
#
# FileBlockDev: a flash image in a host file (the unix board's /flash and raw key region).
# RamBlockDev: the same in RAM, for tests: counts programs and erases (`progs`, `erases`,
# `prog_bytes`), can cut power at the N-th write operation (program or erase, 0-based, counted
# from arm_cut()), and can pass every programmed buffer to a hook (plaintext scans). A cut
# program leaves the first half of its bytes written (a torn page); a cut erase leaves the first
# half of the block erased; both raise PowerCut and every later write raises PowerCut too.
# An erase allocates nothing (one blank block kept per device): flash erase on a board does not
# touch the heap, so the simulated one must not either (it did: 4 KB per erase, at the limit).
from micropython import const

_IOCTL_INIT = const(1)
_IOCTL_DEINIT = const(2)
_IOCTL_SYNC = const(3)
_IOCTL_COUNT = const(4)
_IOCTL_SIZE = const(5)
_IOCTL_ERASE = const(6)


class PowerCut(Exception):
    pass


class RamBlockDev:
    def __init__(self, block_size, block_count, data=None):
        self.block_size = block_size
        self.block_count = block_count
        if data is None:
            data = b"\xff" * (block_size * block_count)
        self.data = bytearray(data)
        self._blank = b"\xff" * block_size
        self._half = memoryview(self._blank)[: block_size // 2]
        self.progs = 0
        self.erases = 0
        self.prog_bytes = 0
        self.on_prog = None
        self._cut_at = -1
        self._ops = 0
        self.dead = False
        self._cut = PowerCut()  # preallocated: may be raised from a finaliser (heap locked)

    def arm_cut(self, n):
        # Cut power at the n-th write operation from now (n < 0: never).
        self._cut_at = n
        self._ops = 0
        self.dead = False

    def ops(self):
        return self._ops

    def _op(self):
        if self.dead:
            raise self._cut
        if self._ops == self._cut_at:
            self.dead = True
            return True
        self._ops += 1
        return False

    def readblocks(self, block, buf, offset=0):
        a = block * self.block_size + offset
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        a = block * self.block_size + offset
        if self._op():
            h = len(buf) // 2
            self.data[a : a + h] = buf[:h]
            raise self._cut
        if self.on_prog is not None:
            self.on_prog(buf)
        self.data[a : a + len(buf)] = buf
        self.progs += 1
        self.prog_bytes += len(buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_COUNT:
            return self.block_count
        if op == _IOCTL_SIZE:
            return self.block_size
        if op == _IOCTL_ERASE:
            a = arg * self.block_size
            if self._op():
                self.data[a : a + len(self._half)] = self._half
                raise self._cut
            self.data[a : a + self.block_size] = self._blank
            self.erases += 1
            return 0
        return 0


_BLANK = b"\xff" * 256


class FileBlockDev:
    # Flash image in a host file, created erased (0xFF) at `block_count` blocks if missing.
    def __init__(self, path, block_size=4096, block_count=256):
        self.block_size = block_size
        self.block_count = block_count
        try:
            self.f = open(path, "r+b")  # noqa: SIM115 - kept open for the device lifetime
        except OSError:
            self.f = open(path, "w+b")  # noqa: SIM115
            for b in range(block_count):
                self._erase(b)
            self.f.flush()

    def _erase(self, block):
        # in 256-byte pieces: a board's flash driver is C, so the simulated one must not hold
        # a block-sized buffer in the heap the RAM budgets are measured in
        self.f.seek(block * self.block_size)
        for _ in range(self.block_size // len(_BLANK)):
            self.f.write(_BLANK)

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.block_size + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        self.f.seek(block * self.block_size + offset)
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_COUNT:
            return self.block_count
        if op == _IOCTL_SIZE:
            return self.block_size
        if op == _IOCTL_ERASE:
            self._erase(arg)
            return 0
        if op in (_IOCTL_SYNC, _IOCTL_DEINIT):
            self.f.flush()
        return 0

    def close(self):
        self.f.close()
