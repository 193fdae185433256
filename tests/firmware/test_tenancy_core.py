# CoT/CoS decisions: apply/schedule/supersede/cancel/replay, persistence across "reboots".
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


def test_past_event_applies_at_its_implementation_time():
    from ihd.tenancy import core

    st, _ = _state("a")
    d, t = st.on_event(_cot(100, 5000), now=6000)
    assert d == core.APPLY and t == 5000  # truncate at T, not at now
    st.mark_applied(_cot(100, 5000), 6000)
    assert st.on_event(_cot(100, 5000), now=6001)[0] == core.IGNORED  # duplicate
    assert st.on_event(_cot(99, 5500), now=6001)[0] == core.IGNORED  # replayed older id
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
    assert TenancyState(p).pending == {} and TenancyState(p).applied["elec/cot"] == 200


def test_later_event_supersedes_pending_and_older_is_ignored():
    from ihd.tenancy import core

    st, _ = _state("c")
    st.on_event(_cot(300, 9000), now=1000)
    assert st.on_event(_cot(301, 9500), now=1001) == (core.SCHEDULED, 9500)
    assert st.next_due() == 9500
    assert st.on_event(_cot(299, 9100), now=1002)[0] == core.IGNORED
    assert st.next_due() == 9500
    # the same pending event polled again is not a new event
    assert st.on_event(_cot(301, 9500), now=1003) == (core.SCHEDULED, 9500)


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
