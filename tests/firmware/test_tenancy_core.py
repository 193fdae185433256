# fw: interp=unix64,unix32-frozen
# CoT/CoS decisions: apply/schedule/supersede/cancel/replay, persistence across "reboots";
# the identity of a change (meter, kind, T) whatever route and issuer id brought it, and what
# the history says was applied when tenancy.json does not (docs/tenancy.md). Also on the 32-bit
# frozen build: issuer ids and times such as 0xFFFFFFF0 are long ints there (small ints end at
# 2^30).
import os

PORTABLE = True


def _state(name):
    from ihd.runtime import atomic
    from ihd.tenancy.core import TenancyState

    d = "/tmp/ihd-tenancy-%d" % (os.getpid() if hasattr(os, "getpid") else 1)
    try:
        os.mkdir(d)
    except OSError:
        pass
    p = d + "/" + name
    atomic.remove(p)
    return TenancyState(p), p


def _cot(eid, t, meter="elec", control=0x200, provider=7, method="command"):
    from ihd.tenancy.core import COT, Event

    return Event(COT, meter, provider, eid, t, control, method)


def _attr(t, control=0x200, meter="elec"):
    # what core.event_from_attributes makes of 0x0200/0x0201 = [t, control]
    from ihd.tenancy.core import COT, event_from_attributes

    return event_from_attributes(COT, meter, [t, control], None)


def _apply(st, ev, now):
    # what the watcher does with APPLY: begin, (truncate, clear), mark applied
    from ihd.tenancy import core

    d, t = st.on_event(ev, now)
    assert d == core.APPLY, (d, t)
    st.begin(ev)
    st.mark_applied(ev, now)
    return t


def test_past_event_applies_at_its_implementation_time():
    from ihd.tenancy import core

    st, _ = _state("a")
    d, t = st.on_event(_cot(100, 5000), now=6000)
    assert d == core.APPLY and t == 5000  # truncate at T, not at now
    st.mark_applied(_cot(100, 5000), 6000)
    assert st.on_event(_cot(100, 5000), now=6001)[0] == core.IGNORED  # duplicate
    assert st.on_event(_cot(99, 4500), now=6001)[0] == core.IGNORED  # an older change
    assert core.stats.get("duplicates") >= 1 and core.stats.get("stale") >= 1


def test_time_zero_means_now():
    from ihd.tenancy import core

    st, _ = _state("z")
    assert st.on_event(_cot(1, 0), now=777) == (core.APPLY, 777)


def test_future_event_survives_reboot_and_fires_on_time():
    from ihd.tenancy import core
    from ihd.tenancy.core import TenancyState

    st, p = _state("b")
    assert st.on_event(_cot(200, 9000), now=8000) == (core.SCHEDULED, 9000)
    st2 = TenancyState(p)  # reboot
    assert st2.due(8999) == []
    due = st2.due(9000)
    assert len(due) == 1 and due[0].issuer_event_id == 200 and due[0].impl_time == 9000
    assert st2.on_event(due[0], 9000) == (core.APPLY, 9000)
    st2.mark_applied(due[0], 9000)
    assert TenancyState(p).pending == {} and TenancyState(p).floor("elec", "cot") == 9000


def test_latest_announcement_supersedes_pending_whatever_its_id():
    # The meter holds one pending change per kind: its latest word replaces the pending one,
    # an earlier or later T, a lower or higher id.
    from ihd.tenancy import core

    st, _ = _state("c")
    st.on_event(_cot(300, 9000), now=1000)
    assert st.on_event(_cot(301, 9500), now=1001) == (core.SCHEDULED, 9500)
    assert st.next_due() == 9500
    assert st.on_event(_cot(299, 9100), now=1002) == (core.SCHEDULED, 9100)
    assert st.next_due() == 9100
    # the same pending event polled again is not a new event
    n = len(st.audit)
    assert st.on_event(_cot(299, 9100), now=1003) == (core.SCHEDULED, 9100)
    assert len(st.audit) == n


def test_hostile_issuer_id_never_blocks_later_changes():
    # One PublishChangeOfTenancy with issuer event id 0xFFFFFFF0 (a long int on 32-bit ports):
    # applied or pending, it must not stop the real changes that follow with ordinary ids.
    from ihd.tenancy import core

    bad = 0xFFFFFFF0
    st, _ = _state("h")
    _apply(st, _cot(bad, 5000), 5100)  # a past T from the bound meter: applied (its right)
    assert _apply(st, _cot(853326000, 6000), 6100) == 6000  # a later T wins
    # pending far ahead (year 2136) with the bad id: the real change replaces it
    assert st.on_event(_cot(bad, 0xFFFFFFFE), now=6200) == (core.SCHEDULED, 0xFFFFFFFE)
    assert st.on_event(_cot(853326100, 7000), now=6300) == (core.SCHEDULED, 7000)
    assert [e.issuer_event_id for e in st.due(7000)] == [853326100]
    ev = st.due(7000)[0]
    assert st.on_event(ev, 7000) == (core.APPLY, 7000)
    st.mark_applied(ev, 7000)
    assert st.pending == {} and st.floor("elec", "cot") == 7000
    # a bad id as a cancel cancels nothing else
    st.on_event(_cot(853326200, 8000), now=7100)
    assert st.on_event(_cot(bad, 0xFFFFFFFF), now=7200)[0] == core.IGNORED
    assert st.next_due() == 8000


def test_identity_is_the_implementation_time_across_routes():
    # Command route first (id = the GBCS issue stamp, before T), then the attribute route
    # re-reads the same change (id = T): not a new change; and the other way round.
    from ihd.tenancy import core

    st, _ = _state("i")
    _apply(st, _cot(4000, 5000), 5100)
    assert st.on_event(_attr(5000), now=5200)[0] == core.IGNORED
    assert st.on_event(_cot(4000, 5000, method="push"), now=5300)[0] == core.IGNORED
    st2, _ = _state("i2")
    _apply(st2, _attr(5000), 5100)
    assert st2.on_event(_cot(853326000, 5000), now=5200)[0] == core.IGNORED
    assert st2.floor("elec", "cot") == 5000 and core.stats.get("duplicates") >= 2


def test_attribute_time_moved_earlier_supersedes_pending():
    # 0x0200: 2000 (scheduled), then the meter moves it to 1500.
    from ihd.tenancy import core
    from ihd.tenancy.core import COT, event_from_attributes

    st, _ = _state("m")
    ev = event_from_attributes(COT, "elec", [2000, 0x200], None)
    assert st.on_event(ev, now=1000) == (core.SCHEDULED, 2000)
    moved = event_from_attributes(COT, "elec", [1500, 0x200], [2000, 0x200])
    assert st.on_event(moved, now=1200) == (core.SCHEDULED, 1500)
    assert st.next_due() == 1500
    # learnt only after the new T passed: applied at once, at 1500
    st2, _ = _state("m2")
    st2.on_event(ev, now=1000)
    assert st2.on_event(moved, now=1600) == (core.APPLY, 1500)
    st2.mark_applied(moved, 1600)
    assert st2.pending == {} and st2.next_due() is None  # the 2000 one is gone with it
    # and once applied at 2000, a move to 1500 has nothing left to rewind
    st3, _ = _state("m3")
    _apply(st3, ev, 2100)
    assert st3.on_event(moved, now=2200)[0] == core.IGNORED


def test_time_zero_is_now_on_both_routes_and_fixed_when_learnt():
    from ihd.tenancy import core
    from ihd.tenancy.core import COT, TIME_CANCEL, event_from_attributes

    st, _ = _state("n")
    ev = event_from_attributes(COT, "elec", [0, 0x200], None)
    assert ev is not None and ev.impl_time == 0  # not a cancel
    assert _apply(st, ev, 3000) == 3000
    # the same announcement read again later (e.g. attrs_seen lost) is the applied change
    again = event_from_attributes(COT, "elec", [0, 0x200], None)
    assert st.on_event(again, now=5000)[0] == core.IGNORED
    # command route: a "now" publish polled again keeps its first time; another id is new
    st2, _ = _state("n2")
    assert _apply(st2, _cot(10, 0), 3000) == 3000
    assert st2.on_event(_cot(10, 0), now=4000)[0] == core.IGNORED
    assert st2.on_event(_cot(11, 0), now=4000) == (core.APPLY, 4000)
    # 0xFFFFFFFF after a real time cancels what it scheduled
    st3, _ = _state("n3")
    st3.on_event(event_from_attributes(COT, "elec", [9000, 0x200], None), now=1000)
    cancel = event_from_attributes(COT, "elec", [TIME_CANCEL, 0], [9000, 0x200])
    assert st3.on_event(cancel, now=1100)[0] == core.CANCELLED and st3.next_due() is None


def test_cancel_needs_matching_provider_and_issuer_id():
    from ihd.tenancy import core

    st, _ = _state("d")
    st.on_event(_cot(400, 9000, provider=7), now=1000)
    assert st.on_event(_cot(400, 0xFFFFFFFF, provider=8), now=1001)[0] == core.IGNORED
    assert st.on_event(_cot(401, 0xFFFFFFFF, provider=7), now=1001)[0] == core.IGNORED
    assert st.next_due() == 9000
    assert st.on_event(_cot(400, 0xFFFFFFFF, provider=7), now=1002)[0] == core.CANCELLED
    assert st.next_due() is None


def test_meters_and_kinds_are_independent():
    from ihd.tenancy import core
    from ihd.tenancy.core import COS, Event

    st, _ = _state("e")
    st.mark_applied(_cot(500, 10, meter="elec"), 20)
    assert st.on_event(_cot(500, 10, meter="gas"), now=20)[0] == core.APPLY
    assert st.on_event(Event(COS, "elec", 7, 500, 10, 0, "command"), now=20)[0] == core.APPLY


def test_attribute_fallback_change_detection():
    from ihd.tenancy.core import COS, COT, TIME_CANCEL, event_from_attributes

    assert event_from_attributes(COT, "elec", [0xFFFFFFFF, 0], None) is None
    ev = event_from_attributes(COT, "elec", [5000, 0x200], None)
    assert ev.impl_time == 5000 and ev.issuer_event_id == 5000 and ev.method == "attributes"
    assert event_from_attributes(COT, "elec", [5000, 0x200], [5000, 0x200]) is None
    ev = event_from_attributes(COT, "elec", [6000, 0x200], [5000, 0x200])
    assert ev.impl_time == 6000
    cancel = event_from_attributes(COT, "elec", [TIME_CANCEL, 0], [6000, 0x200])
    assert cancel.impl_time == TIME_CANCEL and cancel.issuer_event_id == 6000
    cos = event_from_attributes(COS, "gas", [7000, 0x400, 42, b"New Energy", b"0800 1"], None)
    assert cos.proposed_provider_id == 42 and cos.proposed_name == b"New Energy"
    assert event_from_attributes(COT, "elec", ["x", 0], None) is None  # not a time


def test_lost_state_is_restored_from_the_history():
    # tenancy.json gone (or an older copy): the history's epoch is one this file never
    # recorded, so its visible_from is the floor of both kinds of that meter.
    from ihd.tenancy import core

    st, _ = _state("r")
    assert st.reconcile("elec", 1, 0) is False  # a new device: nothing to restore
    assert st.reconcile("elec", 3, 5000, now=9000) is True
    assert st.on_event(_cot(853326000, 5000), now=9000)[0] == core.IGNORED  # same T
    assert st.on_event(_attr(4000), now=9000)[0] == core.IGNORED  # before it
    assert st.on_event(_attr(6000), now=9000) == (core.APPLY, 6000)  # a later one is new
    assert st.audit[0][6] == "restored" and core.stats.get("restored") >= 1
    assert st.reconcile("elec", 3, 5000) is False  # recorded: once
    # what we applied ourselves is known: no restore
    st2, _ = _state("r2")
    ev = _cot(1, 5000)
    st2.on_event(ev, 6000)
    st2.mark_applied(ev, 6000, epoch=2)
    assert st2.reconcile("elec", 2, 5000) is False


def test_interrupted_apply_is_handed_back_not_restored_over():
    # A power cut after the truncation (history epoch moved) but before mark_applied: the
    # intent names the rewind, which is completed (clearers included), not taken as done.
    from ihd.tenancy import core
    from ihd.tenancy.core import TenancyState

    st, p = _state("x")
    ev = _cot(7, 5000)
    assert st.on_event(ev, 6000)[0] == core.APPLY
    st.begin(ev)
    st2 = TenancyState(p)  # reboot
    assert st2.reconcile("elec", 2, 5000) is False
    again = st2.interrupted()
    assert [(e.issuer_event_id, e.t) for e in again] == [(7, 5000)]
    st2.mark_applied(again[0], 6100, epoch=2)
    assert TenancyState(p).interrupted() == [] and TenancyState(p).floor("elec", "cot") == 5000


def test_audit_log_is_bounded_and_has_no_consumption():
    st, p = _state("f")
    for i in range(40):
        st.on_event(_cot(1000 + i, 99999 + i), now=1)
    assert len(st.audit) == 32
    row = st.audit[-1]
    assert row[1:4] == ["elec", "cot", 1039] and row[6] == "scheduled"


def test_corrupt_state_file_starts_empty():
    from ihd.runtime import atomic
    from ihd.tenancy.core import TenancyState

    _, p = _state("g")
    atomic.write(p, b"[1,2")
    st = TenancyState(p)
    assert st.pending == {} and st.applied == {}


def test_bad_entries_are_dropped_and_earlier_files_read():
    import json

    from ihd.runtime import atomic
    from ihd.tenancy import core
    from ihd.tenancy.core import TenancyState

    _, p = _state("k")
    good = _cot(5, 9000).to_dict()
    del good["t"]  # an earlier version's pending entry
    d = {
        "applied": {"elec/cot": 853326000, "gas/cot": "x"},  # ids of an earlier version
        "pending": {"elec/cot": good, "gas/cot": {"kind": "cot"}, "x/y": 5},
        "method": {"elec": "attributes", "gas/cos": "telepathy"},
        "attrs_seen": [1],
        "audit": "nope",
    }
    atomic.write(p, json.dumps(d).encode())
    n = core.stats.get("bad_state")
    st = TenancyState(p)
    assert st.applied == {} and list(st.pending) == ["elec/cot"]
    assert st.next_due() == 9000 and st.due(9000)[0].t == 9000
    assert st.method == {"elec/cot": "attributes", "elec/cos": "attributes"}
    assert st.attrs_seen == {} and st.audit == []
    assert core.stats.get("bad_state") >= n + 4
    # the earlier version's applied ids are re-learnt from the history
    assert st.reconcile("elec", 2, 8000) is True and st.floor("elec", "cot") == 8000
    atomic.write(p, b"[1, 2]")  # valid JSON, not an object
    assert TenancyState(p).pending == {}
