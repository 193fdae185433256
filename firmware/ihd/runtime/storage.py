# Mount the device storage: littlefs (VfsLfs2) on all but the last RAW_BLOCKS erase blocks of a
# block device, mounted at /flash (formatted, with a log line, if it does not mount), and the
# last RAW_BLOCKS blocks kept outside littlefs for the history key region (ihd.history.keys:
# KeyRegion.on(storage, dev): two copies of the key record, one per raw block, so one bad block
# loses no key). littlefs does not mount when one of its metadata pairs is unreadable (a flipped
# bit in a directory block whose other half was never written can do it): then every file is
# lost; that is logged, counted (storage.mount_errors) and remembered (Storage.formatted).
import vfs
from micropython import const

from ihd.runtime import log
from ihd.runtime.counters import Counters

_TAG = "storage"
RAW_BLOCKS = const(2)
_IOCTL_COUNT = const(4)
_IOCTL_SIZE = const(5)
_IOCTL_ERASE = const(6)
# littlefs program size. littlefs keeps a file of up to its cache size (4 x progsize) inline
# in its directory's metadata; at 128 B that is 512 B, so every history file (<= 428 B) is
# inline: no block of its own (a 4 KB erase block per file on a board). The price is RAM: an
# open file carries that 512-byte cache (a 636-byte allocation), so the store opens one file at
# a time and reads it into a buffer of its own (history/store.py _read).
_PROG_SIZE = const(128)

c = Counters("storage", ("mount_errors",))


class Partition:
    # Window [first, first + count) of a block device, with the extended block protocol.
    def __init__(self, dev, first, count):
        self.dev = dev
        self.first = first
        self.count = count

    def readblocks(self, block, buf, offset=0):
        self.dev.readblocks(self.first + block, buf, offset)

    def writeblocks(self, block, buf, offset=0):
        self.dev.writeblocks(self.first + block, buf, offset)

    def ioctl(self, op, arg):
        if op == _IOCTL_COUNT:
            return self.count
        if op == _IOCTL_ERASE:
            return self.dev.ioctl(op, self.first + arg)
        return self.dev.ioctl(op, arg)


class Storage:
    def __init__(self, fs, fs_part, raw_first, block_size, mountpoint):
        self.fs = fs  # the VfsLfs2 object (usable directly: fs.open("/hist/...", "rb"))
        self.fs_part = fs_part
        self.raw_first = raw_first  # first raw block (device block number)
        self.block_size = block_size
        self.mountpoint = mountpoint
        self.formatted = False  # littlefs did not mount and was formatted: every file is gone

    def umount(self):
        if self.mountpoint:
            vfs.umount(self.mountpoint)


def mount(dev, mountpoint="/flash", raw_blocks=RAW_BLOCKS, progsize=_PROG_SIZE):
    # -> Storage. mountpoint None: do not mount in the VFS (tests use fs directly).
    count = dev.ioctl(_IOCTL_COUNT, 0)
    bs = dev.ioctl(_IOCTL_SIZE, 0)
    part = Partition(dev, 0, count - raw_blocks)
    # The ignores: the stubs type block_dev as their AbstractBlockDev class, which MicroPython
    # does not have (any object with readblocks/writeblocks/ioctl is a block device).
    try:
        fs = vfs.VfsLfs2(part, progsize=progsize, mtime=False)  # pyright: ignore[reportArgumentType]
    except OSError as e:
        fmt = True
        blank = _blank(part)
        if blank:  # a new device
            log.info(_TAG, "blank flash: formatting %d blocks", count - raw_blocks)
        else:
            c.inc("mount_errors")
            log.error(_TAG, "littlefs does not mount (%s): formatting %d blocks, all files lost",
                      e, count - raw_blocks)  # fmt: skip
        vfs.VfsLfs2.mkfs(part, progsize=progsize)  # pyright: ignore[reportArgumentType]
        fs = vfs.VfsLfs2(part, progsize=progsize, mtime=False)  # pyright: ignore[reportArgumentType]
    else:
        fmt = blank = False
    if mountpoint:
        vfs.mount(fs, mountpoint)
    st = Storage(fs, part, count - raw_blocks, bs, mountpoint)
    st.formatted = fmt and not blank
    return st


def _blank(part):
    # True if littlefs's superblock pair (blocks 0 and 1) is erased: nothing was ever there.
    buf = bytearray(64)
    for b in (0, 1):
        part.readblocks(b, buf, 0)
        for x in buf:
            if x != 0xFF:
                return False
    return True
