"""pcap writer: each APS data frame crossing the simulated HAN as an IEEE 802.15.4 MAC data
frame (LINKTYPE_IEEE802_15_4_NOFCS) carrying an unsecured Zigbee NWK header and APS data header,
so Wireshark/tshark dissects the ZCL payload."""

from __future__ import annotations

import struct
from typing import BinaryIO, Dict, Optional

LINKTYPE_IEEE802_15_4_NOFCS = 230

# 802.15.4 FCF: data frame, ack request, PAN id compression, dst+src short, 2003 version
_MAC_FCF = 0x0001 | 0x0020 | 0x0040 | (2 << 10) | (2 << 14)
# Zigbee NWK FCF: data, protocol version 2 (PRO), discover route enable (01)
_NWK_FCF = 0x0000 | (2 << 2) | (1 << 6)
# APS FCF: data frame, unicast delivery, no security, no ack request
_APS_FCF = 0x00


class PcapWriter:
    def __init__(self, path: str, pan_id: int):
        self._fh: Optional[BinaryIO] = open(path, "wb")  # noqa: SIM115 (closed in close())
        self.pan_id = pan_id
        self._mac_seq: Dict[int, int] = {}
        self._nwk_seq: Dict[int, int] = {}
        self.frames = 0
        self._fh.write(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IEEE802_15_4_NOFCS)
        )
        self._fh.flush()

    def _next(self, table: Dict[int, int], node: int) -> int:
        v = table.get(node, node & 0xFF)
        table[node] = (v + 1) & 0xFF
        return v

    def aps_frame(
        self,
        ts_unix: float,
        src: int,
        dst: int,
        src_ep: int,
        dst_ep: int,
        cluster: int,
        profile: int,
        aps_counter: int,
        payload: bytes,
        radius: int = 30,
    ) -> None:
        if self._fh is None:
            return
        mac = struct.pack(
            "<HBHHH", _MAC_FCF, self._next(self._mac_seq, src), self.pan_id, dst, src
        )
        nwk = struct.pack("<HHHBB", _NWK_FCF, dst, src, radius, self._next(self._nwk_seq, src))
        aps = struct.pack(
            "<BBHHBB", _APS_FCF, dst_ep, cluster, profile, src_ep, aps_counter & 0xFF
        )
        frame = mac + nwk + aps + payload
        sec = int(ts_unix)
        usec = int((ts_unix - sec) * 1e6)
        self._fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
        self._fh.flush()
        self.frames += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
