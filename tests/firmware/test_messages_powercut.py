# fw: heapsize=1M timeout=300
# Power cuts on the message store (ihd/messages/store.py) on a real littlefs (vfs.VfsLfs2 over
# boards/unix RamBlockDev, the tests/firmware/powercut.py pattern): a sequence of service
# operations (new messages, the user's read / confirm, an eviction past N_MAX, a cancel, an
# expiry, a change of tenancy); each step runs once uncut to count its flash writes, then again
# with the power cut at write 0, 1, ...; after the "reboot" (fresh mount over the same bytes, a
# fresh service) the messages are exactly those before the step or those after it.
from blockdev import PowerCut, RamBlockDev
from ihd.messages import store
from ihd.messages.service import MessageService
from ihd.meters.registry import Meter, Registry
from ihd.runtime import clock, storage
from ihd.state import model as M

ROOT = "/flash"
PATH = ROOT + "/messages.bin"
NOW = 850_000_000
T = [NOW]


class NullZcl:
    def on_command(self, *a):
        pass


class Fr:
    def __init__(self, cmd_id, text=b"", node=0x1234):
        self.node, self.src_ep, self.secured, self.cmd_id = node, 1, True, cmd_id
        self.payload = b"\x00" * 11 + bytes((len(text),)) + text


class Ev:
    def __init__(self, meter, control, t):
        self.meter, self.control, self.t = meter, control, t


def _mount(data=None):
    dev = RamBlockDev(512, 48, data)
    return dev, storage.mount(dev, ROOT)


def _service():
    reg = Registry()
    reg.bind(Meter("elec", 0x1234, 1))
    mdl = M.Model(now_fn=lambda: T[0])
    return MessageService(NullZcl(), reg, mdl, PATH)


def _state(svc):
    return [(m.id, m.text, m.time_utc, m.end_utc, m.control, m.flags) for m in svc.model.messages]


def _display(mid, text, control=0, dur=0xFFFF, node=0x1234):
    def act(svc):
        a = {"message_id": mid, "message_control": control, "start_time": 0,
             "duration_min": dur, "message": text, "extended_message_control": None}  # fmt: skip
        assert svc._on_command(Fr(0x00, text.encode(), node), a) == 0

    return act


def _cancel(mid):
    def act(svc):
        svc._on_command(Fr(0x01), {"message_id": mid, "message_control": 0})

    return act


def _read(svc):
    svc.model.read_message(svc.model.messages[-1])


def _expire(svc):
    T[0] = NOW + 7200
    svc.check()


def _cot(svc):
    svc.tenancy_clearer(Ev("elec", 0x0200, NOW + 7000))


STEPS = [_display(1, "first")]
STEPS += [_display(i, "message %d \u00a3" % i, dur=60 if i == 3 else 0xFFFF) for i in range(2, 10)]
STEPS += [_read, _cancel(5), _expire, _display(20, "after T", node=0x0000), _cot]


def _run(image, step, cut):
    # -> (the flash bytes after the step, cut or not, the writes it made)
    dev, st = _mount(image)
    svc = _service()
    dev.arm_cut(cut)
    try:
        step(svc)
    except PowerCut:
        pass
    data = bytes(dev.data)
    ops = dev.ops()
    try:
        st.umount()
    except (OSError, PowerCut):
        pass
    return data, ops


def _boot_state(data):
    _, st = _mount(data)
    try:
        return _state(_service())
    finally:
        st.umount()


def test_every_cut_leaves_the_old_or_the_new_messages():
    clock.reset()
    clock.set_source(lambda: T[0])
    dev, st = _mount()
    st.umount()
    image = bytes(dev.data)
    cuts = 0
    for k, step in enumerate(STEPS):
        t0 = T[0]
        old = _boot_state(image)
        new_image, total = _run(image, step, -1)
        new = _boot_state(new_image)
        assert total > 0 and new != old, k
        for i in range(total):
            T[0] = t0
            data, _ = _run(image, step, i)
            got = _boot_state(data)
            assert got in (old, new), (k, i, total, got)
            cuts += 1
        image = new_image
    final = _boot_state(image)
    assert [s[0] for s in final] == [20], final  # CoT cleared those before T; 20 came after
    assert len(STEPS) == 14 and cuts > 14, cuts


def test_store_bounds_and_garbage():
    from ihd.messages import stats

    msgs = [M.Message(i, "x" * 200, NOW, end_utc=NOW + i) for i in range(store.N_MAX)]
    raw = store.encode(msgs)
    back = store.decode(raw)
    assert [m.id for m in back] == list(range(store.N_MAX))
    assert all(len(m.text) == store.MAX_TEXT_B for m in back)
    stats.reset()
    for bad in (b"", b"\x02\x01", b"\x01\x09", b"\x01\x01" + b"\x00" * 10, raw[:-1]):
        assert store.decode(bad) == []
    assert stats.get("bad_store") == 5
    assert store.clip("\u00a3" * 65) == "\u00a3" * 64
