# hansim's Messaging server (host_tools/hansim/clusters.py Messaging) and the firmware's
# Messaging tables (firmware/ihd/zigbee/zcl/clusters.py) against a referee. zigpy 2.4.0 declares
# the Messaging cluster (id 0x0703, zigpy.zcl.clusters.smartenergy.Messaging) without its
# commands, so the referee is zigpy's ZCL header and data types (uint32, bitmap8, UTCTime,
# uint16, CharacterString, LVBytes) read along the SE 1.4 field lists (zigbee-se.md section 8):
# every payload hansim pushes or answers parses there to the event's values with nothing left
# over, and a MessageConfirmation the firmware encodes is read the same by zigpy and hansim.
import pytest
import zigpy.types as t
from zigpy.zcl import foundation as zf
from zigpy.zcl.clusters.smartenergy import Messaging as ZMessaging

from host_tools import upy_shim
from host_tools.hansim import clusters as hc
from host_tools.hansim.scenario import Scenario, ScenarioError
from host_tools.hansim.simclock import to_zigbee
from host_tools.hansim.zcl import Device

upy_shim.install()

from ihd.zigbee.zcl import clusters as CL  # noqa: E402

START = "2026-01-15T06:00:00Z"
NOW = 1768456800.0  # START in unix seconds


def _zigpy_display(payload):
    # -> (id, control, start, minutes, text), via zigpy's types; nothing may be left over
    mid, rest = t.uint32_t.deserialize(payload)
    ctl, rest = t.bitmap8.deserialize(rest)
    start, rest = t.UTCTime.deserialize(rest)
    dur, rest = t.uint16_t.deserialize(rest)
    text, rest = t.CharacterString.deserialize(rest)
    assert rest == b""
    return int(mid), int(ctl), int(start), int(dur), str(text)


def _hub():
    dev = Device("comms_hub", 0x0000, bytes(8), lambda: NOW)
    ms = dev.add_cluster(1, hc.Messaging)
    assert isinstance(ms, hc.Messaging)
    return dev, ms


def test_cluster_id_is_zigpys():
    assert hc.Messaging.cluster_id == ZMessaging.cluster_id == CL.MESSAGING == 0x0703


@pytest.mark.parametrize(
    "ev",
    [
        {"id": 1, "text": "Hello", "control": "0x08"},
        {"id": 0xFFFFFFFF, "text": "Prix \u00e0 23,10p/kWh", "control": "0xA0", "start": "+1h",
         "duration": "90m"},
        {"id": 7, "text": "protected", "protected": True, "duration": 0},
    ],
)  # fmt: skip
def test_display_payload_parses_in_zigpy_and_firmware(ev):
    scn = Scenario.__new__(Scenario)
    scn.start_unix = NOW
    e = scn._message(dict(ev, type="message", at="+0s"), "ev")
    dev, ms = _hub()
    cmd, payload = ms.event(e, NOW)
    assert cmd == (0x02 if ev.get("protected") else 0x00)
    mid, ctl, start, dur, text = _zigpy_display(payload)
    assert (mid, text) == (ev["id"], ev["text"])
    assert ctl == int(str(ev.get("control", 0)), 0)
    assert start == (0 if "start" not in ev else to_zigbee(NOW + 3600))
    assert dur == {None: 0xFFFF, "90m": 90, 0: 0}[ev.get("duration")]
    # the firmware's table reads the same bytes to the same values
    row = CL.command(CL.MESSAGING, CL.S2C, cmd)
    a = CL.decode(row[2], payload)
    assert (a["message_id"], a["message_control"], a["start_time"], a["duration_min"],
            a["message"]) == (mid, ctl, start, dur, text)  # fmt: skip
    assert a["extended_message_control"] is None


def test_cancel_payloads():
    dev, ms = _hub()
    ms.event({"id": 5, "text": "x", "control": 0, "duration_min": 0xFFFF}, NOW)
    cmd, p = ms.event({"id": 5, "control": 0x80, "cancel": True}, NOW)
    mid, rest = t.uint32_t.deserialize(p)
    ctl, rest = t.bitmap8.deserialize(rest)
    assert (cmd, mid, ctl, rest) == (0x01, 5, 0x80, b"") and ms.last(NOW) is None
    cmd, p = ms.event({"cancel_all": True, "control": 0, "start_unix": NOW + 60}, NOW)
    when, rest = t.UTCTime.deserialize(p)
    assert (cmd, when, rest) == (0x03, to_zigbee(NOW + 60), b"")
    row = CL.command(CL.MESSAGING, CL.S2C, 0x03)
    assert CL.decode(row[2], p)["implementation_time"] == when


def test_get_last_message_answers_the_last_on_else_not_found():
    dev, ms = _hub()
    req = bytes((0x01, 0x21, 0x00))  # cluster, client to server, TSN 0x21, GetLastMessage
    (rsp,) = dev.handle_zcl(0x7A3C, 1, 1, 0x0703, req)
    hdr, rest = zf.ZCLHeader.deserialize(rsp)
    assert hdr.frame_control.frame_type == zf.FrameType.GLOBAL_COMMAND and hdr.tsn == 0x21
    assert rest == bytes((0x00, 0x8B))  # Default Response to 0x00: NOT_FOUND
    ms.event({"id": 1, "text": "old", "control": 0, "duration_min": 10}, NOW - 3600)  # ended
    ms.event({"id": 2, "text": "on", "control": 0x08, "duration_min": 0xFFFF}, NOW - 60)
    ms.event({"id": 3, "text": "ended", "control": 0, "duration_min": 1}, NOW - 120)
    (rsp,) = dev.handle_zcl(0x7A3C, 1, 1, 0x0703, req)
    hdr, rest = zf.ZCLHeader.deserialize(rsp)
    assert hdr.frame_control.frame_type == zf.FrameType.CLUSTER_COMMAND
    assert hdr.frame_control.direction == zf.Direction.Server_to_Client
    assert hdr.command_id == 0x00 and hdr.tsn == 0x21
    assert _zigpy_display(rest)[:2] == (2, 0x08)


@pytest.mark.parametrize(
    "values",
    [
        {"message_id": 0x11, "confirmation_time": 123456},
        {"message_id": 0x80000012, "confirmation_time": 123457, "confirmation_control": 0x01,
         "response": b"No"},
    ],
)  # fmt: skip
def test_message_confirmation_firmware_to_zigpy_and_hansim(values):
    row = CL.command(CL.MESSAGING, CL.C2S, CL.MSG_CONFIRMATION)
    p = bytes(CL.encode(row[2], values, 82))
    mid, rest = t.uint32_t.deserialize(p)
    when, rest = t.UTCTime.deserialize(rest)
    assert (mid, when) == (values["message_id"], values["confirmation_time"])
    if "response" in values:
        ctl, rest = t.bitmap8.deserialize(rest)
        resp, rest = t.LVBytes.deserialize(rest)
        assert (ctl, resp) == (values["confirmation_control"], values["response"])
    assert rest == b""
    dev, ms = _hub()
    out = dev.handle_zcl(0x7A3C, 1, 1, 0x0703, bytes((0x01, 0x30, 0x01)) + p)
    assert out == [bytes((0x18, 0x30, 0x0B, 0x01, 0x00))]  # Default Response SUCCESS
    (rec,) = ms.confirmations
    assert rec["id"] == values["message_id"] and rec["time"] == values["confirmation_time"]
    assert rec["control"] == values.get("confirmation_control")
    want = values.get("response")
    assert rec["response"] == (None if want is None else want.decode())


def test_truncated_confirmation_is_malformed():
    dev, ms = _hub()
    out = dev.handle_zcl(0x7A3C, 1, 1, 0x0703, bytes((0x01, 0x31, 0x01)) + b"\x01\x02")
    assert out[0][2:] == bytes((0x0B, 0x01, 0x80)) and ms.confirmations == []


def test_scenario_message_keys_checked():
    scn = Scenario.__new__(Scenario)
    scn.start_unix = NOW
    for bad in ({"id": 1}, {"text": "x"}, {"id": 1, "text": "x", "colour": 1},
                {"id": 1, "text": "x", "duration": "46d"}, {"id": 1, "text": 5}):  # fmt: skip
        with pytest.raises(ScenarioError):
            scn._message(dict(bad, type="message", at="+0s"), "ev")
    e = scn._message({"type": "message", "at": "+0s", "cancel_all": True}, "ev")
    assert e["cancel_all"] and e["start_unix"] is None
