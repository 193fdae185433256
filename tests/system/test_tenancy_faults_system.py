# Issue 13, "Hostile or odd events", end to end: the firmware on the unix port against hansim
# meters that send a hostile issuer event id, let the same change reach the device twice (by
# another route; after tenancy.json is lost), move the implementation time earlier, or leave a
# poll stuck across T (device_management_silent, docs/scenario-format.md). Each ends with 0
# records before T in the export and in every rendered view (simfix.assert_rewound), and each
# measures the exposure window: seconds of simulated time from T until the device applied the
# rewind (the audit row of the apply: device time at the apply minus T), printed for the report.
# Scenario times are relative to 06:00Z; the device polls about 3 min after boot and then every
# 30 min (tenancy_poll_s); at SPEED 240 one request's 3 attempts of 5 s (real) take 1 h.
from tests.system import simfix

SPEED = 240
START = "2026-01-15T06:00:00Z"
T0 = simfix.iso_to_zigbee(START)
MIN = 60
HOSTILE_ID = 0xFFFFFFF0


def cot(meter="esme", at="+1h", impl="+1h15m", eid=853326000, push=False, control="0x00000600"):
    return {
        "type": "change_of_tenancy",
        "meter": meter,
        "at": at,
        "implementation_time": impl,
        "provider_id": 301,
        "issuer_event_id": eid,
        "change_control": control,
        "push": push,
    }


def _silent(at, duration, what):
    # hansim: the ESME's Device Management server answers nothing in that window
    return {"device_management_silent": [{"at": at, "duration": duration, "what": what}]}


def _audit(st, outcome=None):
    return [a for a in st["tenancy_audit"] if outcome is None or a[6] == outcome]


def _exposure_s(st, t):
    # seconds after T until the rewind at T was applied (no view shows pre-T data from then)
    rows = [a for a in _audit(st, "applied") if a[1] == "elec" and a[4] == t]
    assert len(rows) == 1, rows
    return rows[0][0] - t


def _log(tmp_path):
    # the device's log file alone (sim.log_text() appends the console, which repeats it)
    return (tmp_path / "log.txt").read_text()


def _remove_from_flash(tmp_path, name):
    # Deletes one file from the device's littlefs image (the firmware is stopped).
    from littlefs import LittleFS, UserContext, errors

    from host_tools.history import export

    path = tmp_path / "flash.img"
    image = path.read_bytes()
    for bs in export._BLOCK_SIZES:
        if len(image) % bs or len(image) // bs <= export.RAW_BLOCKS + 2:
            continue
        n = len(image) // bs - export.RAW_BLOCKS
        ctx = UserContext(buffer=bytearray(image[: n * bs]))
        fs = LittleFS(context=ctx, mount=False, block_size=bs, block_count=n)
        try:
            fs.mount()
        except errors.LittleFSError:
            continue
        fs.remove(name)
        fs.unmount()
        path.write_bytes(bytes(ctx.buffer) + image[n * bs :])
        return
    raise AssertionError("no littlefs in %s" % path)


def test_hostile_issuer_id_does_not_block_the_real_change(tmp_path):
    # The bound ESME pushes a change with issuer id 0xFFFFFFF0 at 06:10 (T 06:05: applied, a
    # meter's right), then holds another with that id for 2136; the real change (an ordinary
    # id, learnt 07:00, T 07:30) must still rewind at 07:30.
    t_real = T0 + 90 * MIN
    scn = simfix.scenario_file(
        tmp_path,
        events=[
            cot(at="+10m", impl="+5m", eid=HOSTILE_ID, push=True),
            cot(at="+30m", impl="2136-01-01T00:00:00Z", eid=HOSTILE_ID),
            cot(at="+1h", impl="+1h30m"),
        ],
    )
    sim = simfix.run(tmp_path, scenario=scn, until="2h30m", speed=SPEED)
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", t_real, "elec")
    applied = _audit(st, "applied")
    assert [(a[3], a[4]) for a in applied] == [(HOSTILE_ID, T0 + 5 * MIN), (853326000, t_real)]
    assert st["counters"]["tenancy.superseded"] >= 1  # the real one replaced the 2136 one
    print("exposure hostile id: %d s" % _exposure_s(st, t_real))


def test_same_change_by_another_route_is_applied_once(tmp_path):
    # Applied from the command route at 07:15 (issuer id = the GBCS issue stamp, 07:00). From
    # 07:20 to 08:40 the ESME ignores Device Management commands (reads answered): the Get
    # times out and the attributes show the same change, which must not be applied again.
    t = T0 + 75 * MIN
    scn = simfix.scenario_file(
        tmp_path,
        events=[cot(eid=T0 + 60 * MIN, control="0x00004600")],
        esme=_silent("+1h20m", "1h20m", "commands"),
    )
    sim = simfix.run(tmp_path, scenario=scn, until="2h50m", speed=SPEED)
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", t, "elec")
    log = _log(tmp_path)
    assert "elec: no answer to Get cot; reading attributes" in log  # the fault happened
    assert log.count("applying cot") == 1
    assert len(_audit(st, "applied")) == 1 and st["counters"]["tenancy.applied"] == 1
    assert st["counters"]["tenancy.duplicates"] >= 1
    print("exposure route switch: %d s" % _exposure_s(st, t))


def test_lost_state_file_does_not_reapply(tmp_path):
    # Applied at 06:45; at 07:00 the device stops, loses tenancy.json and boots again while the
    # meter still publishes the change: the history says it was applied.
    t = T0 + 45 * MIN

    def lose_state(sim):
        sim.stop_firmware(graceful=True)
        _remove_from_flash(tmp_path, "/tenancy.json")
        sim.start_firmware()

    scn = simfix.scenario_file(tmp_path, events=[cot(at="+20m", impl="+45m")])
    sim = simfix.run(
        tmp_path, scenario=scn, until="1h45m", speed=SPEED, steps=[("1h", lose_state)]
    )
    assert sim.errors() == [] and sim.boots == 2
    st = simfix.assert_rewound(sim, tmp_path, "elec", t, "elec")
    log = _log(tmp_path)
    assert log.count("applying cot") == 1
    assert "count as applied" in log  # restored from the history's epoch / visible_from
    assert _audit(st, "restored") and not _audit(st, "applied")  # the second boot's file
    assert st["counters"]["tenancy.restored"] == 1 and st["counters"]["tenancy.applied"] == 0
    print("exposure lost state: 0 s (applied once, at T, before the loss)")


def test_attribute_time_moved_earlier(tmp_path):
    # Attributes-only ESME: 0x0200 = 07:30 from 06:20, moved earlier to 07:10 at 06:40. The
    # rewind must be at 07:10, not 07:30 (data 07:10-07:30 would stay visible).
    t = T0 + 70 * MIN
    scn = simfix.scenario_file(
        tmp_path,
        events=[
            cot(at="+20m", impl="+1h30m"),
            cot(at="+40m", impl="+1h10m", eid=853326100),
        ],
        esme={"device_management": "attributes_only"},
    )
    sim = simfix.run(tmp_path, scenario=scn, until="2h15m", speed=SPEED)
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", t, "elec")
    applied = _audit(st, "applied")
    assert [(a[4], a[5]) for a in applied] == [(t, "attributes")]
    assert st["counters"]["history.truncations"] == 1
    print("exposure moved earlier: %d s" % _exposure_s(st, t))


def test_poll_stuck_across_implementation_time(tmp_path):
    # Scheduled at the 06:33 poll for 07:15. From 06:55 to 08:10 the ESME's Device Management
    # server answers no command: the 07:03 poll waits for its GetChangeOfTenancy (3 attempts,
    # 1 h at this speed) across T. The rewind must happen at 07:15 all the same. (Reads stay
    # answered: the meters service reads its thresholds there, and readings must go on.)
    t = T0 + 75 * MIN
    scn = simfix.scenario_file(
        tmp_path,
        events=[cot(at="+20m")],
        esme=_silent("+55m", "1h15m", "commands"),
    )
    sim = simfix.run(tmp_path, scenario=scn, until="2h15m", speed=SPEED)
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", t, "elec")
    log = _log(tmp_path)
    stuck = log.find("elec: no answer to Get cot")
    assert 0 <= log.find("applying cot") < stuck  # applied while the poll was still waiting
    exposure = _exposure_s(st, t)
    assert exposure <= 2 * MIN, exposure
    print("exposure stuck poll: %d s" % exposure)
