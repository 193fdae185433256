# Issue 14, supplier messages end to end: the firmware on the unix port against hansim's comms
# hub Messaging server (`message` events, docs/scenario-format.md). Display (a plain
# confirmation, an enhanced one, a short one, an urgent one: its screen opening by itself is
# tests/firmware/test_messages_ui.py's), the user's
# confirmations typed on the device's keys reaching the hub (its recorded MessageConfirmations),
# a cancel, an expiry, a power cut (SIGKILL: the messages come back from flash, GetLastMessage
# repeats the last one without making it unread), and a change of tenancy with Clear IHD Data -
# Consumer clearing those from before T but not one after. The HAN capture dissects in tshark
# with no malformed frame and the Messaging commands named.
import json
import os
import time

from tests.system import simfix

SPEED = 60
START = "2026-01-15T06:00:00Z"
T0 = simfix.iso_to_zigbee(START)
MIN = 60
T_COT = T0 + 30 * MIN
EVENTS = [
    {"type": "message", "at": "+3m", "id": 101, "control": "0x80",
     "text": "Welcome to Octavia Energy. Please confirm you have read this message."},
    {"type": "message", "at": "+4m", "id": 102, "text": "Meter reading due", "duration": "10m"},
    {"type": "message", "at": "+5m", "id": 103, "control": "0x08",
     "text": "Supply interruption tonight 22:00-23:00"},
    {"type": "message", "at": "+6m", "id": 104, "control": "0xA0",
     "text": "We need to replace your gas meter. Can we call you?"},
    {"type": "message", "at": "+9m", "id": 103, "cancel": True},
    {"type": "change_of_tenancy", "meter": "esme", "at": "+30m", "implementation_time": "+30m",
     "provider_id": 301, "issuer_event_id": 853326000, "change_control": "0x00000200",
     "push": True},
    {"type": "message", "at": "+33m", "id": 105, "text": "Welcome to your new home"},
    {"type": "message", "at": "+36m", "cancel_all": True, "start": "+50m"},
]  # fmt: skip


def _wait_log(sim, text, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in sim.log_text():
            return
        time.sleep(0.2)
    raise AssertionError("not in the firmware log within %d s: %r" % (timeout_s, text))


def _ids(st, shown=None):
    return [m["id"] for m in st["messages"] if shown is None or m["shown"] == shown]


def test_messages_display_confirm_cancel_expiry_power_cut_cot(tmp_path):
    seen = {}

    def urgent_up(sim):
        # 103 (high importance) came at +5m: the Messages screen opened it by itself
        _wait_log(sim, "message 103 from hub")
        time.sleep(1.0)

    def confirm(sim):
        # Home, then Messages (Home > History > Tariff > Messages), the newest (104, enhanced):
        # open, answer "No" (next from "Yes"), send; back; the oldest (101, plain): confirm.
        sim.send_keys("long_back", "long_back", "next", "next", "next", "ok", "ok", "next", "ok")
        _wait_log(sim, "message 104 confirmed to 0x0000")
        sim.send_keys("back", "prev", "ok", "ok")
        _wait_log(sim, "message 101 confirmed to 0x0000")
        seen["hub"] = sim.ctl.call(cmd="status")["messaging"]

    def power_cut(sim):
        sim.stop_firmware(graceful=False)  # SIGKILL: no flush, no state dump
        sim.start_firmware()

    def look(sim):
        # an orderly stop writes the device's state (then it boots again)
        sim.stop_firmware()
        with open(os.path.join(sim.out, "state.json")) as f:
            seen["mid"] = json.load(f)
        sim.start_firmware()

    scenario = simfix.scenario_file(tmp_path, events=EVENTS, speed=SPEED)
    steps = [("+5m30s", urgent_up), ("+7m", confirm), ("+11m", power_cut), ("+20m", look)]
    sim = simfix.run(tmp_path, scenario=scenario, until="40m", speed=SPEED, steps=steps)
    assert sim.errors() == []

    # The hub recorded both confirmations: plain (no options) and enhanced ("No", 0x01).
    conf = {c["id"]: c for c in seen["hub"]["confirmations"]}
    assert conf[101]["control"] is None and conf[101]["response"] is None
    assert conf[104]["control"] == 0x01 and conf[104]["response"] == "No"
    assert T0 + 7 * MIN <= conf[101]["time"] <= T0 + 9 * MIN

    # After the power cut (11 min) and at 20 min: 101 and 104 from flash, confirmed and read;
    # 103 cancelled, 102 ended at 14 min.
    mid = seen["mid"]
    assert _ids(mid) == [104, 101], mid["messages"]
    for m in mid["messages"]:
        assert m["flags"] & 0x03 == 0x03 and not m["flags"] & 0x40, m  # read, confirmed, sent
        assert m["shown"] and m["end"] == 0
    c = mid["counters"]  # (since the boot after the power cut)
    assert c["messages.expired"] == 1 and c["messages.evicted"] == 0
    assert c["messages.rejected_source"] == 0 and c["messages.bad_store"] == 0

    log = sim.log_text()
    assert "message 103 from hub, control 0x08" in log
    assert "message 102 from hub" in log and "1 message(s) ended" in log
    assert "message 103 cancelled" in log

    # The change of tenancy (Clear IHD Data - Consumer) at 30 min cleared 101 and 104 (before T);
    # 105 came after T and stays.
    st = sim.state()
    assert _ids(st) == [105] and _ids(st, True) == [105]
    assert st["messages"][0]["end"] == T0 + 50 * MIN  # CancelAllMessages at 50 min
    assert st["counters"]["messages.cleared"] == 2
    assert "elec: 2 message(s) cleared" in log

    _tshark(tmp_path / "han.pcap")


def _tshark(pcap):
    simfix.tshark_clean(pcap, min_frames=0)
    names = "\n".join(simfix.tshark(pcap, "-Y", "zbee_aps.cluster == 0x0703"))
    for name in ("Messaging: Display Message", "Messaging: Cancel Message",
                 "Messaging: Cancel All Messages", "Messaging: Get Last Message",
                 "Messaging: Message Confirmation"):  # fmt: skip
        assert name in names, (name, names[:2000])
