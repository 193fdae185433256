# Mount the device storage: littlefs (VfsLfs2) on all but the last RAW_BLOCKS erase blocks of a
# block device, mounted at /flash (formatted, with a log line, if it does not mount), and the
# last RAW_BLOCKS blocks kept outside littlefs for the history key region (ihd.history.keys:
# KeyRegion.on(storage, dev)).
import vfs
from micropython import const

from ihd.runtime import log

_TAG = "storage"
RAW_BLOCKS = const(2)
_IOCTL_COUNT = const(4)
_IOCTL_SIZE = const(5)
_IOCTL_ERASE = const(6)


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

    def umount(self):
        if self.mountpoint:
            vfs.umount(self.mountpoint)


def mount(dev, mountpoint="/flash", raw_blocks=RAW_BLOCKS, progsize=128):
    # -> Storage. mountpoint None: do not mount in the VFS (tests use fs directly).
    count = dev.ioctl(_IOCTL_COUNT, 0)
    bs = dev.ioctl(_IOCTL_SIZE, 0)
    part = Partition(dev, 0, count - raw_blocks)
    # The ignores: the stubs type block_dev as their AbstractBlockDev class, which MicroPython
    # does not have (any object with readblocks/writeblocks/ioctl is a block device).
    try:
        fs = vfs.VfsLfs2(part, progsize=progsize, mtime=False)  # pyright: ignore[reportArgumentType]
    except OSError as e:
        log.warn(_TAG, "littlefs does not mount (%s): formatting %d blocks", e, count - raw_blocks)
        vfs.VfsLfs2.mkfs(part, progsize=progsize)  # pyright: ignore[reportArgumentType]
        fs = vfs.VfsLfs2(part, progsize=progsize, mtime=False)  # pyright: ignore[reportArgumentType]
    if mountpoint:
        vfs.mount(fs, mountpoint)
    return Storage(fs, part, count - raw_blocks, bs, mountpoint)
