# Power-cut campaign helpers for the history store (MicroPython unix port). The faulty block
# device itself is boards/unix/blockdev.RamBlockDev (arm_cut / PowerCut); this module builds
# stores on it, runs one operation with the power cut at every write index in turn, "reboots"
# (fresh RamBlockDev over the same bytes, fresh littlefs mount, fresh store) and reports the
# visible state so the test can check it is the old or the new one.
from blockdev import PowerCut, RamBlockDev
from ihd.history.keys import KeyRegion
from ihd.history.store import HistoryStore
from ihd.runtime import storage

BLOCK_SIZE = 512
BLOCK_COUNT = 96


def boot(data=None, block_size=BLOCK_SIZE, block_count=BLOCK_COUNT, batch=8):
    # -> (dev, store) on a RAM device (fresh, or over a copy of `data`).
    dev = RamBlockDev(block_size, block_count, data)
    st = storage.mount(dev, None)
    return dev, HistoryStore(st.fs, KeyRegion.on(st, dev), batch=batch)


def state(store):
    # Everything visible: per meter (epoch, visible_from, dump).
    return [(store.epoch(m), store.visible_from(m), store.dump(m)) for m in range(store.n)]


def campaign(image, action, check=None):
    # Runs action(store) on a store booted from `image`, cutting power at write 0, 1, ... until
    # the action completes uncut. After each cut: reboot and require state == old or new;
    # check(store, is_new, dev) may assert more. Returns (number of write ops, outcomes).
    _, s = boot(image)
    old = state(s)
    dev, s = boot(image)
    dev.arm_cut(-1)
    action(s)
    total = dev.ops()
    new = state(boot(bytes(dev.data))[1])
    n_old = n_new = 0
    for i in range(total):
        dev, s = boot(image)
        dev.arm_cut(i)
        try:
            action(s)
            raise AssertionError("no cut at write %d of %d" % (i, total))
        except PowerCut:
            pass
        dev2, s2 = boot(bytes(dev.data))
        got = state(s2)
        if got == old:
            n_old += 1
            is_new = False
        elif got == new:
            n_new += 1
            is_new = True
        else:
            raise AssertionError("cut at write %d/%d: state is neither old nor new" % (i, total))
        if check is not None:
            check(s2, is_new, dev2)
    return total, n_old, n_new
