"""ZDO service discovery beyond han.py's basics: Match_Desc_req (docs/joining.md).

The firmware unicasts Match_Desc_req to the Comms Hub with NWKAddrOfInterest 0xFFFD (what a
broadcast carries); hansim answers as a broadcast would be answered: one Match_Desc_rsp from
every device with a matching endpoint, from that device.
"""

from __future__ import annotations

import struct
from typing import Any, List, Tuple

MATCH_DESC_REQ = 0x0006
MATCH_DESC_RSP = 0x8006
ZDP_SUCCESS = 0x00


def _parse(p: bytes) -> Tuple[int, int, int, List[int], List[int]]:
    tsn, addr, profile, n_in = struct.unpack_from("<BHHB", p)
    ins = list(struct.unpack_from("<%dH" % n_in, p, 6))
    off = 6 + 2 * n_in
    n_out = p[off]
    outs = list(struct.unpack_from("<%dH" % n_out, p, off + 1))
    return tsn, addr, profile, ins, outs


def match_desc(han: Any, p: bytes) -> List[Tuple[Any, bytes]]:
    """-> [(device, Match_Desc_rsp payload)] for the devices that match."""
    try:
        tsn, addr, profile, ins, _outs = _parse(p)
    except (struct.error, IndexError):
        return []
    out = []
    for dev in han.devices.values():
        if han.offline(dev) or (addr < 0xFFF8 and addr != dev.node_id):
            continue
        if profile not in (dev.profile_id, 0xFFFF):
            continue
        # a server cluster the requester wants (our devices host servers only)
        eps = [ep for ep, cl in sorted(dev.endpoints.items()) if any(c in cl for c in ins)]
        if eps:
            rsp = struct.pack("<BBHB", tsn, ZDP_SUCCESS, dev.node_id, len(eps)) + bytes(eps)
            out.append((dev, rsp))
    return out
