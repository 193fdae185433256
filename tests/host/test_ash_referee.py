# Referee: the firmware ASH codec and link (ihd.zigbee.ash) against bellows 1.2.1 (bellows.ash).
# CRC, randomization, stuffing and every frame class must agree byte for byte on random input,
# and the firmware host must interoperate with a bellows AshProtocol acting as the NCP side.
import asyncio
import binascii
import random

import pytest

from host_tools import upy_shim

upy_shim.install()

bellows_ash = pytest.importorskip("bellows.ash")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from ihd.zigbee import ash  # noqa: E402

payloads = st.binary(min_size=1, max_size=ash.MAX_DATA)
nums = st.integers(min_value=0, max_value=7)


def _wire(frame):
    return bytes(bellows_ash.AshProtocol._stuff_bytes(frame.to_bytes())) + b"\x7e"


@given(st.binary(max_size=300))
def test_crc_matches_crc_hqx(data):
    assert ash.crc16(data) == binascii.crc_hqx(data, 0xFFFF)


def test_randomization_sequence_matches():
    seq = bytes(ash.randomize(bytearray(256)))
    assert seq == bytes(bellows_ash.PSEUDO_RANDOM_DATA_SEQUENCE)


@given(st.binary(max_size=300))
def test_stuffing_matches(data):
    ours = ash.stuff(data)
    assert ours == bytes(bellows_ash.AshProtocol._stuff_bytes(data))
    assert bytes(bellows_ash.AshProtocol._unstuff_bytes(ours)) == data


@settings(max_examples=300)
@given(nums, nums, st.booleans(), payloads)
def test_data_frames_agree(frm, ack, re_tx, payload):
    ref = bellows_ash.DataFrame(frm_num=frm, re_tx=re_tx, ack_num=ack, ezsp_frame=payload)
    ctrl = ash.data_ctrl(frm, ack, re_tx)
    raw = bytearray(3 + len(payload))
    n = ash.build_raw(raw, ctrl, payload)
    assert bytes(raw[:n]) == ref.to_bytes()
    wire = ash.encode(ctrl, payload)
    assert wire == _wire(ref)
    assert ash.decode(wire) == [(ctrl, payload)]
    parsed = bellows_ash.parse_frame(bytes(bellows_ash.AshProtocol._unstuff_bytes(wire[:-1])))
    assert parsed == ref


@given(nums, st.booleans())
def test_ack_nak_frames_agree(ack, n_rdy):
    for ours, cls in ((ash.ack_ctrl, bellows_ash.AckFrame), (ash.nak_ctrl, bellows_ash.NakFrame)):
        ref = cls(res=0, ncp_ready=n_rdy, ack_num=ack)
        assert ash.encode(ours(ack, n_rdy)) == _wire(ref)
        assert ash.decode(_wire(ref)) == [(ours(ack, n_rdy), b"")]


@given(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x06, 0x09, 0x0B, 0x51, 0x80]))
def test_rst_rstack_error_frames_agree(code):
    assert ash.encode(ash.RST) == _wire(bellows_ash.RstFrame())
    rstack = bellows_ash.RStackFrame(version=2, reset_code=code)
    error = bellows_ash.ErrorFrame(version=2, reset_code=code)
    assert ash.encode(ash.RSTACK, bytes([2, code])) == _wire(rstack)
    assert ash.encode(ash.ERROR, bytes([2, code])) == _wire(error)
    assert ash.decode(_wire(rstack)) == [(ash.RSTACK, bytes([2, code]))]


@settings(max_examples=100)
@given(st.binary(min_size=1, max_size=60), st.integers(min_value=1, max_value=7))
def test_decoder_handles_bellows_stream_in_chunks(payload, chunk):
    # Several bellows frames back to back, fed to the streaming decoder in small chunks.
    refs = [
        bellows_ash.DataFrame(frm_num=i, re_tx=False, ack_num=7 - i, ezsp_frame=payload)
        for i in range(3)
    ]
    stream = b"".join(_wire(f) for f in refs)
    out = []
    d = ash.Decoder(None)
    d.on_frame = lambda ctrl, n: out.append((ctrl, bytes(d.buf[1 : 1 + n])))
    for i in range(0, len(stream), chunk):
        part = stream[i : i + chunk]
        d.feed(part, len(part))
    assert out == [(ash.data_ctrl(i, 7 - i), payload) for i in range(3)]


# ---- end to end: firmware host <-> bellows AshProtocol playing the NCP ----------------------


class _Pipe:
    def __init__(self):
        self.buf = bytearray()
        self.evt = asyncio.Event()

    def write(self, b):
        self.buf.extend(b)
        self.evt.set()

    def is_closing(self):
        return False

    async def readinto(self, mv):
        while not self.buf:
            self.evt.clear()
            await self.evt.wait()
        n = min(len(mv), len(self.buf))
        mv[:n] = self.buf[:n]
        del self.buf[:n]
        return n


class _NcpSide(bellows_ash.AshProtocol):
    def rst_frame_received(self, frame):
        super().rst_frame_received(frame)
        self._tx_seq = self._rx_seq = 0
        self._write_frame(
            bellows_ash.RStackFrame(version=2, reset_code=0x0B),
            prefix=(bellows_ash.Reserved.CANCEL,),
        )


class _Upper:
    def __init__(self):
        self.rx = []

    def connection_made(self, proto):
        pass

    def data_received(self, data):
        self.rx.append(bytes(data))

    def reset_received(self, code):
        pass

    def error_received(self, code):
        pass


class _HostWriter:
    def __init__(self, peer):
        self.peer = peer

    def write(self, b):
        self.peer.data_received(bytes(b))

    async def drain(self):
        await asyncio.sleep(0)


def test_end_to_end_with_bellows_peer():
    async def main():
        to_host = _Pipe()
        upper = _Upper()
        peer = _NcpSide(upper)
        peer.connection_made(to_host)
        host = ash.Ash(to_host, _HostWriter(peer))
        got = []
        host.frames.connect(lambda mv: got.append(bytes(mv)))
        assert await host.reset() == 0x0B
        rnd = random.Random(7)
        sent_up, sent_down = [], []
        for i in range(20):
            up = bytes(rnd.randrange(256) for _ in range(rnd.randrange(3, 120)))
            down = bytes(rnd.randrange(256) for _ in range(rnd.randrange(3, 120)))
            sent_up.append(up)
            sent_down.append(down)
            if i % 2:
                await asyncio.gather(host.send(up), peer.send_data(down))
            else:
                await host.send(up)
                await peer.send_data(down)
        await asyncio.sleep(0.01)
        assert upper.rx == sent_up
        assert got == sent_down
        assert host.c.get("crc_errors") == 0 and host.c.get("naks_sent") == 0
        assert host.c.get("retransmits") == 0
        host.stop()

    asyncio.run(main())
