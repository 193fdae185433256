# ZCL frame header codec (ZCL r7 2.4.1; docs/zigbee-se.md 1.1). SPDX-License-Identifier: MIT
# FC bits0-1 frame type, bit2 manufacturer-specific, bit3 direction (1 = server->client),
# bit4 disable default response; then [manufacturer u16], TSN u8, command id u8.
from ihd.zigbee.zcl.types import DecodeError, EncodeError
from micropython import const

GLOBAL = const(0)  # profile-wide command
CLUSTER = const(1)  # cluster-specific command
C2S = const(0)  # client -> server
S2C = const(1)  # server -> client

FC_TYPE_MASK = const(0x03)
FC_MANUF = const(0x04)
FC_S2C = const(0x08)
FC_DISABLE_DR = const(0x10)


class Header:
    # Reusable: parse() fills the fields in place (no allocation per frame).
    def __init__(self):
        self.fc = 0
        self.frame_type = GLOBAL
        self.manuf = None  # manufacturer code or None
        self.direction = C2S
        self.disable_dr = False
        self.tsn = 0
        self.cmd_id = 0
        self.payload_off = 0

    def parse(self, buf):
        # Raises DecodeError if buf is shorter than the header it announces.
        if self.read(buf) < 0:
            raise DecodeError("zcl frame too short")
        return self

    def read(self, buf):
        # parse() for the receive path: never raises (an exception object would allocate) ->
        # payload offset, or -1 if buf is shorter than the header it announces.
        n = len(buf)
        if n < 3:
            return -1
        fc = buf[0]
        off = 1
        if fc & FC_MANUF:
            if n < 5:
                return -1
            self.manuf = buf[1] | buf[2] << 8
            off = 3
        else:
            self.manuf = None
        self.fc = fc
        self.frame_type = fc & FC_TYPE_MASK
        self.direction = S2C if fc & FC_S2C else C2S
        self.disable_dr = bool(fc & FC_DISABLE_DR)
        self.tsn = buf[off]
        self.cmd_id = buf[off + 1]
        self.payload_off = off + 2
        return off + 2


def make_fc(frame_type, direction, disable_dr=False, manuf=None):
    fc = frame_type & FC_TYPE_MASK
    if manuf is not None:
        fc |= FC_MANUF
    if direction:
        fc |= FC_S2C
    if disable_dr:
        fc |= FC_DISABLE_DR
    return fc


def header_len(manuf=None):
    return 3 if manuf is None else 5


def encode_header(buf, off, frame_type, direction, tsn, cmd_id, disable_dr=False, manuf=None):
    # Writes the header at buf[off:]; -> offset of the payload.
    n = header_len(manuf)
    if off + n > len(buf):
        raise EncodeError("buffer too small")
    buf[off] = make_fc(frame_type, direction, disable_dr, manuf)
    if manuf is not None:
        buf[off + 1] = manuf & 0xFF
        buf[off + 2] = (manuf >> 8) & 0xFF
        off += 2
    buf[off + 1] = tsn & 0xFF
    buf[off + 2] = cmd_id & 0xFF
    return off + 3
