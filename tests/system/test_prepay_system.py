# Issue: PPMID prepayment. The firmware on the unix port against hansim's prepayment meters,
# driven through its own keys (IHD_KEYS_FIFO): a top-up code typed on the Prepayment screen
# credits the meter and the new credit shows; a mistyped code is caught on the device (nothing
# on the air); a used code is rejected by the meter with the right message; a code sent while
# the meter is offline is kept and goes again only when the user asks; emergency credit is
# taken when the meter offers it and not before; the low-credit alert (and its beep) fires once.
import os
import time

from host_tools.hansim.prepay import make_utrn
from tests.system import simfix

SPEED = 60
CS01B = "73950067887105178605"  # £12.50 on both meters
TYPO = "73950067887105178606"  # CS01B with the check digit mistyped
TEN_POUNDS = "73944427607365224621"  # scenario: £10.00 on the ESME
_PREPAY = 0x0705


def _wait_log(sim, text, timeout_s=30, count=1):
    # Real-time wait until the firmware log holds `text` `count` times.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sim.log_text().count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError("not in the firmware log within %d s: %r" % (timeout_s, text))


def _to_prepay(sim):
    # Wake the screen and go Home (long back from anywhere), then next x3: Prepayment.
    sim.send_keys("long_back", "long_back", "long_back", "next", "next", "next")
    time.sleep(0.5)


def _read(sim, device, attr):
    return sim.ctl.call(cmd="read", device=device, cluster=_PREPAY, attr=attr)["value"]


def _pcap(sim):
    with open(os.path.join(sim.out, "han.pcap"), "rb") as f:
        return f.read()


def test_top_up_typo_and_duplicate(tmp_path):
    def ready(sim):
        _wait_log(sim, "network up", timeout_s=60)
        time.sleep(6)  # the prepayment service has read both meters
        _to_prepay(sim)
        # Mistyped: caught on the device, the meter never sees it.
        sim.send_keys(TYPO, "ok")
        time.sleep(1.0)
        # Fixed (BACK deletes the last digit), sent, both meters prepayment: choose 1 (elec).
        sim.send_keys("back", "5", "ok", "1")
        _wait_log(sim, "top-up **** **** **** **** 8605 -> Top-up accepted")
        time.sleep(1.0)
        sim.accepted_credit = _read(sim, "esme", 0x0001)
        # The same code again: the meter says it was used.
        sim.send_keys("ok", "7")  # result -> Prepayment; a digit opens the entry
        sim.send_keys(CS01B[1:], "ok", "1")
        _wait_log(sim, "-> Code already used")
        time.sleep(1.0)
        sim.meter_log = _read(sim, "esme", 0x0103)  # the meter's own top-up log, newest

    sim = simfix.run(tmp_path, scenario="prepay", until="12m", speed=SPEED, steps=[("1m", ready)])
    assert sim.errors() == []
    st = sim.state()
    pp = st["prepay"]
    c = st["counters"]
    # The typo: counted locally, never sent (the meter's raw bytes are not in the capture).
    assert c["prepay.bad_check"] == 1
    assert c["prepay.top_ups"] == 2  # the good code and the duplicate, nothing else
    pcap = _pcap(sim)
    assert TYPO.encode() not in pcap and CS01B.encode() in pcap
    # Accepted: £12.50 less the 10 % payment-based debt recovery reached the meter, and the
    # device shows the meter's credit.
    log = pp["log"]
    assert [e[3] for e in log] == [2, 0] and log[1][2] == 1250000
    assert log[0][4] == "**** **** **** **** 8605"  # masked in the log
    assert sim.accepted_credit > 1400000
    assert abs(pp["elec"]["credit_mp"] - sim.accepted_credit) < 20000
    # The duplicate: the meter's verdict and message, and the screen left on it.
    assert pp["last"]["code"] == 2 and pp["last"]["text"] == "Code already used"
    assert not pp["elec"]["pending"] and pp["lock_s"] == 0
    assert sim.meter_log == CS01B
    screens = tmp_path / "screens"
    assert (screens / "320x240_current.png").exists()
    assert (screens / "320x240_prepay.png").exists()
    assert (screens / "128x64_prepay.png").exists()


def test_no_answer_retry_emergency_credit_and_alert_once(tmp_path):
    code = make_utrn(500, counter=9)  # £5.00, any valid code is accepted by hansim

    def low_credit(sim):
        # Credit crosses the IHD warning level (£3.50) about 2 h in: jump there.
        sim.ctl.call(cmd="advance", seconds=3 * 3600)
        _wait_log(sim, "alert low_credit", timeout_s=40)
        _to_prepay(sim)
        sim.send_keys("ok")  # the banner: acknowledge
        _wait_log(sim, "beep: elec low_credit")
        # No emergency credit offered yet (credit > £1): OK opens the entry, no EC request.
        sim.send_keys("ok", "long_back")
        # Still low an hour later: no second alert.
        sim.ctl.call(cmd="advance", seconds=3600)
        time.sleep(8)
        sim.ec_before = _read(sim, "esme", 0x0003)

    def emergency(sim):
        sim.ctl.call(cmd="advance", seconds=17 * 3600)  # credit < £1: EC offered
        deadline = time.monotonic() + 40
        while _read(sim, "esme", 0x0003) & 0x08 == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(8)  # the device's next poll sees it
        _to_prepay(sim)
        sim.send_keys("ok", "ok")  # offer -> dialog -> "Take it"
        _wait_log(sim, "EC selected")
        time.sleep(1)
        sim.ec_after = _read(sim, "esme", 0x0003)

    def offline(sim):
        sim.ctl.call(cmd="event", event={"type": "meter_offline", "meter": "esme",
                                         "duration": "20m"})  # fmt: skip
        _to_prepay(sim)
        sim.send_keys(code, "ok", "1")
        _wait_log(sim, "-> No answer: code kept", timeout_s=40)
        time.sleep(1)
        sim.pending_log = _read(sim, "esme", 0x0103)
        sim.send_keys("back")  # later: the code stays pending on the device

    def retry(sim):
        # The meter is back. Reopen the entry: the kept code is offered; OK sends it again.
        _to_prepay(sim)
        sim.send_keys("ok")  # hint -> entry (pending view)
        time.sleep(0.5)
        sim.send_keys("ok")
        _wait_log(sim, "-> Top-up accepted")
        time.sleep(1)
        sim.meter_log = _read(sim, "esme", 0x0103)

    steps = [("1m", low_credit), ("4h30m", emergency), ("22h", offline), ("22h30m", retry)]
    sim = simfix.run(tmp_path, scenario="prepay", until="22h40m", speed=SPEED, steps=steps)
    assert sim.errors() == []
    st = sim.state()
    pp = st["prepay"]
    c = st["counters"]
    # Low credit: one alert, one beep, acknowledged; EC-in-use came later (credit < 0).
    with open(os.path.join(sim.out, "log.txt")) as f:
        log = f.read()
    assert log.count("alert low_credit") == 1
    assert pp["beeps"] == 1 and log.count("beep: elec low_credit") == 1
    assert ["elec", "low_credit"] not in [a[:2] for a in pp["alerts"]]
    # Emergency credit: not selected before it was offered, selected once when offered.
    assert sim.ec_before & 0x10 == 0
    assert sim.ec_after & 0x10
    assert c["prepay.ec_selected"] == 1
    # Offline: nothing reached the meter, code kept; sent again only on the user's OK.
    assert sim.pending_log != code
    assert c["prepay.no_answer"] == 1
    assert sim.meter_log == code
    assert c["prepay.top_ups"] == 2  # the first try and the one retry the user asked for
    assert pp["last"]["code"] == 0 and not pp["elec"]["pending"]
    assert [e[3] for e in pp["log"]][:2] == [0, 0x22]
