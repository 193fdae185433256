# Test helpers (no tests here): an in-memory stream pair and a small fake NCP that speaks real
# ASH + EZSP (v13 or v14 layouts). EZSP frames are built here with struct by hand, independently of
# ihd.zigbee.ezsp, so the host code is checked against a second encoding.
import asyncio
import struct

from ihd.zigbee import ash

PORTABLE = True


async def settle(n=10):
    # Let the other tasks run (both interpreters; no real time passes).
    for _ in range(n):
        await asyncio.sleep(0)


class Pipe:
    # One direction of a byte stream: write() from one side, readinto()/read() on the other.
    def __init__(self):
        self.buf = bytearray()
        self.evt = asyncio.Event()
        self.log = bytearray()  # everything ever written (for assertions)
        self.tap = None  # fn(bytes) called on every write (the fake NCP's input)
        self.eof = False

    def write(self, b):
        b = bytes(b)
        self.log.extend(b)
        if self.tap is not None:
            self.tap(b)
            return
        self.buf.extend(b)
        self.evt.set()

    async def drain(self):
        await asyncio.sleep(0)

    async def readinto(self, mv):
        while not self.buf and not self.eof:
            self.evt.clear()
            await self.evt.wait()
        n = min(len(mv), len(self.buf))
        mv[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n

    def take(self):
        # Bytes written so far and not yet taken (when nobody reads this pipe).
        b = bytes(self.buf)
        self.buf = bytearray()
        return b

    def close(self):
        self.eof = True
        self.evt.set()


def frames(wire):
    return ash.decode(wire)


def ezsp_hdr(seq, fid, ext=True, fc=0x80):
    if ext:
        return bytes([seq, fc, 0x01, fid & 0xFF, fid >> 8])
    return bytes([seq, fc, fid])


class FakeNcp:
    # Host writes go straight into this NCP's decoder (Pipe.tap); replies land in self.to_host.
    # Every in-sequence DATA is answered with EZSP response (+ callbacks) and the ACK piggybacked
    # (piggyback=False: a separate ACK frame first).
    def __init__(self, version=14, piggyback=True):
        self.to_host = Pipe()
        self.from_host = Pipe()
        self.from_host.tap = self._rx
        self.dec = ash.Decoder(self._frame, self._bad)
        self.version = version
        self.piggyback = piggyback
        self.rx_next = 0
        self.tx_next = 0
        self.ext = False
        self.resets = 0
        self.answer_rst = True
        self.drop_data = 0  # ignore (do not ACK) this many host DATA frames
        self.hold_sent = False  # do not send messageSentHandler
        self.sent_status = 0
        self.commands = []  # (frame id, params bytes)
        self.unicasts = []  # (tag, dest, cluster, payload)
        self.network_up = False
        self.eui64 = bytes([1, 2, 3, 4, 5, 6, 7, 8])
        self.node_id = 0x4C21
        self.channel = 15
        self.pan_id = 0x1A62
        self.bad = 0
        self.last_seq = 0

    # ---- ASH

    def _rx(self, b):
        self.dec.feed(b, len(b))

    def _bad(self, ctrl):
        self.bad += 1

    def write_raw(self, b):
        self.to_host.write(b)

    def send_data(self, ezsp_frame):
        ctrl = ash.data_ctrl(self.tx_next, self.rx_next)
        self.tx_next = (self.tx_next + 1) & 7
        self.to_host.write(ash.encode(ctrl, ezsp_frame))

    def reset_now(self, code=ash.RESET_POWER_ON):
        # An NCP reset out of the blue: state lost, unsolicited RSTACK.
        self.rx_next = self.tx_next = 0
        self.ext = False
        self.network_up = False
        self.to_host.write(ash.encode(ash.RSTACK, bytes([2, code])))

    def _frame(self, ctrl, n):
        data = bytes(self.dec.buf[1 : 1 + n])
        if ctrl == ash.RST:
            self.resets += 1
            if self.answer_rst:
                self.rx_next = self.tx_next = 0
                self.ext = False
                self.to_host.write(b"\x1a" + ash.encode(ash.RSTACK, b"\x02\x0b"))
            return
        if ctrl & 0x80:
            return  # ACK / NAK from the host: window 1, nothing to do
        if self.drop_data:
            self.drop_data -= 1
            return
        frm = (ctrl >> 4) & 7
        if frm != self.rx_next:
            self.to_host.write(ash.encode(ash.ack_ctrl(self.rx_next)))
            return
        self.rx_next = (frm + 1) & 7
        replies = self._ezsp(data)
        if not self.piggyback or not replies:
            self.to_host.write(ash.encode(ash.ack_ctrl(self.rx_next)))
        for r in replies:
            self.send_data(r)

    # ---- EZSP

    def st(self, v):
        return struct.pack("<I" if self.version >= 14 else "<B", v)

    def callback(self, fid, params):
        return ezsp_hdr(self.last_seq, fid, True, 0x90) + params

    def stack_status(self, up=True):
        if self.version >= 14:
            return self.callback(0x19, self.st(0x15 if up else 0x16))
        return self.callback(0x19, self.st(0x90 if up else 0x91))

    def incoming(self, sender, cluster, payload, options=0x0020, profile=0x0109):
        aps = struct.pack("<HHBBHHB", profile, cluster, 1, 1, options, 0, 0x42)
        if self.version >= 14:
            info = struct.pack("<H8sBBBbI", sender, bytes(8), 0xFF, 0xFF, 200, -50, 0)
            body = b"\x00" + aps + info + bytes([len(payload)]) + payload + b"\x02"
        else:
            body = b"\x00" + aps + struct.pack("<BbHBB", 200, -50, sender, 0xFF, 0xFF)
            body += bytes([len(payload)]) + payload
        return self.callback(0x45, body)

    def _ezsp(self, d):
        if self.ext:
            seq, fid, p = d[0], d[3] | (d[4] << 8), d[5:]
        else:
            seq, fid, p = d[0], d[2], d[3:]
        self.last_seq = seq
        self.commands.append((fid, p))
        hdr = ezsp_hdr(seq, fid, self.ext)
        v14 = self.version >= 14
        if fid == 0x00:  # version: answered in the format it came in
            self.ext = True
            return [hdr + struct.pack("<BBH", self.version, 2, 0x7410)]
        if fid == 0xAA:  # getValue(VERSION_INFO)
            return [hdr + self.st(0) + b"\x07" + struct.pack("<HBBBBB", 321, 7, 4, 1, 0, 0xAA)]
        if fid in (0x53, 0x55, 0x02):  # setConfigurationValue, setPolicy, addEndpoint
            return [hdr + self.st(0)]
        if fid == 0x26:
            return [hdr + self.eui64]
        if fid == 0x27:
            return [hdr + struct.pack("<H", self.node_id)]
        if fid == 0x18:
            return [hdr + bytes([2 if self.network_up else 0])]
        if fid == 0x28:  # getNetworkParameters: status, node type, EmberNetworkParameters
            if not self.network_up:
                return [hdr + self.st(0x93) + bytes(21)]  # NOT_JOINED
            params = struct.pack("<8sHbBBHBI", bytes(8), self.pan_id, 3, self.channel, 0, 0, 0,
                                 1 << self.channel)  # fmt: skip
            return [hdr + self.st(0) + b"\x03" + params]
        if fid == 0x17:  # networkInit: response first, then the callback
            self.network_up = True
            return [hdr + self.st(0), self.stack_status(True)]
        if fid == 0x34:  # sendUnicast
            fmt = "<BHHHBBHHBH" if v14 else "<BHHHBBHHBB"
            f = struct.unpack_from(fmt, p, 0)
            k = struct.calcsize(fmt)
            payload = bytes(p[k + 1 : k + 1 + p[k]])
            tag = f[9]
            self.unicasts.append((tag, f[1], f[3], payload))
            out = [hdr + self.st(0) + b"\x9a"]
            if not self.hold_sent:
                aps = struct.pack("<HHBBHHB", f[2], f[3], f[4], f[5], f[6], 0, 0x9A)
                if v14:
                    body = self.st(self.sent_status) + struct.pack("<BH", 0, f[1]) + aps
                    body += struct.pack("<H", tag) + b"\x00"
                else:
                    body = struct.pack("<BH", 0, f[1]) + aps + bytes([tag, self.sent_status, 0])
                out.append(self.callback(0x3F, body))
            return out
        if fid == 0x05:
            return [hdr]
        return [ezsp_hdr(seq, 0x58, self.ext) + self.st(0x31)]
