# History from the meter: a gap in a meter's half-hour history (a new install with an empty
# store, the device off or rebooted, the meter unheard for a long time) is filled from the
# meter's own records. docs/history.md "Backfill from the meter".
#
# - Half-hours: Metering GetProfile, channel 0 (consumption delivered), 30-minute intervals,
#   uint24 in the historical consumption formatting, newest first; paged back from the newest
#   half-hour the store lacks, _PERIODS a request, at most _MAX_REQ requests a gap.
# - Day totals (PreviousDayConsumptionDelivered 0x0403, PreviousDay2..8 0x0420..0x042C) only for
#   days the profile could not fill at all (the meter has no profile, or none that old), and
#   only for days that are GMT throughout (the meter's days are UK local days).
#
# Clipping: nothing before the meter's visible_from is asked for or written, whatever the meter
# answers (pre-T intervals, an end time in the future or off the half-hour, more periods than
# asked): a rewind at a change of tenancy is never undone. The store checks it again
# (history/store.py backfill_hh / backfill_day) and fills only slots it has no data for: real
# readings win.
#
# Bounded: one request per meter per step of the meters loop (MeterService.run), at a
# monotonic deadline; a refusal or no answer backs off 60 s doubling up to an hour; a gap ends
# after _MAX_REQ requests, when nothing is missing, or when the meter has nothing older.
# RAM: per meter one list of _N small ints (its gap; 512 B with the object for both meters on
# 64-bit) and the intervals of the response being processed, read in place from the ZCL
# client's receive frame (no list of intervals is made).
from micropython import const

from ihd.meters import units
from ihd.runtime import clock, log
from ihd.zigbee.zcl import clusters as C
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl import frame as FR

_TAG = "backfill"
_HH_S = const(1800)
_DAY_S = const(86400)
_RING_DAYS = const(9)  # a gap after boot reaches this many days back (store.DAY_RING - 1)
_PERIODS = const(24)  # asked per GetProfile (a 79-byte answer: one unfragmented frame)
_MAX_REQ = const(40)  # requests per gap: 9 days at 12 a page (a meter may give fewer)
_GATE_S = const(30)  # waiting for the tenancy check: looked at again this often
_RETRY_S = const(60)  # after a refusal or no answer, doubling ...
_RETRY_MAX_S = const(3600)  # ... up to once an hour
_CHANNEL_DELIVERED = const(0)
_PERIOD_30MIN = const(2)  # ProfileIntervalPeriod
_HDR = const(7)  # GetProfileResponse: end_time u32, status u8, period u8, periods delivered u8
# GetProfileResponse status
_ST_OK = const(0)
_ST_UNDEFINED_CHANNEL = const(1)
_ST_UNSUPPORTED_CHANNEL = const(2)
_ST_INVALID_END_TIME = const(3)
_ST_TOO_MANY_PERIODS = const(4)
_ST_NO_INTERVALS = const(5)

# A gap, per meter: one list of small ints.
_LO = const(0)  # oldest half-hour start to fill
_HI = const(1)  # fill below this (exclusive): moves back as pages arrive
_LEFT = const(2)  # requests left
_AT = const(3)  # monotonic deadline of the next request
_BACKOFF = const(4)  # current backoff, s (0: none)
_PER = const(5)  # periods per request (halved on "too many periods")
_LUMP_WH = const(6)  # the energy the device measured over the gap (-1: unknown) ...
_FILLED_WH = const(7)  # ... and what the profile filled inside it
_OPEN = const(8)  # 0 none, 1 half-hours, 2 day totals next
_GEN = const(9)  # the meter state's gen when opened (a change of tenancy ends the gap)
_TOP = const(10)  # the gap's end as opened
# 1: the meter refused GetProfile: day totals only (kept while the Backfill lives: a gap opened
# after the service dropped it asks once again)
_NO_PROFILE = const(11)
# the response being applied (_get): its end time, periods, and the window kept
_R_END = const(12)
_R_N = const(13)
_R_LO = const(14)
_R_TOP = const(15)
_N = const(16)

_DAY_IDS = (0x0403,) + tuple(range(0x0420, 0x042D, 2))  # previous day, day 2 .. day 8
(_FREEZE,) = C.attr_ids(C.METERING, ("historical_freeze_time",))


def _gmt(t):
    # True if UK local time is UTC (GMT) at t: outside last Sunday of March 01:00Z .. last
    # Sunday of October 01:00Z.
    y = clock.civil(t)[0]
    return not _last_sunday_1am(y, 3) <= t < _last_sunday_1am(y, 10)


def _last_sunday_1am(y, m):
    d31 = clock.days_from_civil(y, m, 31)
    return (d31 - (d31 + 6) % 7) * _DAY_S + 3600  # 2000-01-01 (day 0) was a Saturday


class Backfill:
    def __init__(self, svc):
        self.svc = svc  # the MeterService: zcl, registry, history, counters, cost_hh
        self.gaps = [None, None]  # type: list  # per FUEL_*: a list of _N ints, made at first use
        self._gate = None  # see wait_for
        # the response being applied (_get): its payload, meter and gap
        self._pl = None
        self._st = None
        self._g = None

    def wait_for(self, fn):
        # No request until fn() is True: app.py, once the tenancy watcher has polled every
        # meter since boot (a change of tenancy the meter holds rewinds the store first).
        self._gate = fn

    def busy(self):
        # A gap is open (the service drops the Backfill, and this module, when none is). A
        # loop, not any(): no generator object at every pass of the meters loop.
        for g in self.gaps:  # noqa: SIM110
            if g is not None and g[_OPEN]:
                return True
        return False

    # ---- opening a gap ----

    def after_boot(self, st, hh_start):
        # The first reading of a meter after boot or a change of tenancy: whatever the store
        # lacks in the half-hour ring before the open half-hour.
        self.open(st, hh_start - _RING_DAYS * _DAY_S, hh_start, -1)

    def open(self, st, lo_s, hi_s, lump_wh):
        # Fill [lo_s, hi_s) (half-hour starts). lump_wh: the energy the device measured across
        # it (a long outage: MeterService._gap), written at the end where the profile left
        # the newest slot empty; -1 none.
        vf = self.svc.history.visible_from(st.hist)
        lo = max(lo_s - lo_s % _HH_S, vf)
        g = self.gaps[st.fuel_id]
        if g is None:
            g = [0] * _N  # type: list
            self.gaps[st.fuel_id] = g
        elif g[_OPEN] and g[_GEN] == st.gen:
            lo = min(lo, g[_LO])  # an open gap grows (still clipped at vf above)
            if g[_LUMP_WH] >= 0:
                self._finish(st, g)
        g[_LO] = lo
        g[_HI] = g[_TOP] = hi_s - hi_s % _HH_S
        g[_LEFT] = _MAX_REQ
        g[_AT] = clock.deadline(0)
        g[_BACKOFF] = 0
        g[_PER] = _PERIODS
        g[_LUMP_WH] = lump_wh
        g[_FILLED_WH] = 0
        g[_OPEN] = 1
        g[_GEN] = st.gen
        self.svc.c.inc("backfill_gaps")
        log.info(_TAG, "%s: gap %s .. %s", st.meter.name, clock.iso(lo), clock.iso(g[_HI]))

    # ---- the meters loop's step ----

    async def step(self, dl):
        # One request per meter whose gap is due; -> dl or the sooner next deadline.
        gate = self._gate
        if gate is not None and not gate():
            return clock.sooner(dl, clock.deadline(_GATE_S))
        for st in self.svc._by_fuel:
            if st is None:
                continue
            g = self.gaps[st.fuel_id]
            if g is None or not g[_OPEN]:
                continue
            if g[_GEN] != st.gen:  # a change of tenancy since: nothing of it is written
                g[_OPEN] = 0
                continue
            if st.fmt is None or not clock.synced():
                continue
            if clock.due(g[_AT]):
                if g[_OPEN] == 1:
                    await self._profile(st, g)
                else:
                    await self._day_totals(st, g)
            if g[_OPEN]:
                dl = clock.sooner(dl, g[_AT])
        return dl

    def _refused(self, st, g, why):
        # No answer or a refusal: try again later (60 s doubling up to an hour).
        b = min(_RETRY_MAX_S, g[_BACKOFF] * 2 if g[_BACKOFF] else _RETRY_S)
        g[_BACKOFF] = b
        g[_AT] = clock.deadline(b)
        self.svc.c.inc("backfill_refusals")
        log.info(_TAG, "%s: %s; again in %d s", st.meter.name, why, b)
        if g[_LEFT] <= 0:
            self._done(st, g)

    async def _profile(self, st, g):
        svc = self.svc
        h = st.hist
        nxt = svc.history.newest_missing(h, g[_LO], g[_HI])
        if nxt < 0:  # nothing (more) missing
            self._finish(st, g)
            return
        if g[_LEFT] <= 0 or g[_NO_PROFILE]:
            self._done(st, g)
            return
        end = nxt + _HH_S
        n = min(g[_PER], (end - g[_LO]) // _HH_S)
        g[_LEFT] -= 1
        m = st.meter
        gen = st.gen
        row = C.command(C.METERING, FR.C2S, C.MET_GET_PROFILE)
        if row is None:  # not in the cluster table: never (tests/host/test_hansim_profile.py)
            return
        req = {"interval_channel": _CHANNEL_DELIVERED, "end_time": end, "number_of_periods": n}
        payload = C.encode(row[2], req, 16)
        f = await svc.zcl.request(m.node, m.ep, C.METERING, C.MET_GET_PROFILE, payload,
                                  rsp_cmd=C.MET_GET_PROFILE_RSP)  # fmt: skip
        # f is the client's receive slot: read before the next await
        if gen != st.gen:
            svc.c.inc("discarded")
            return
        if f is None:
            self._refused(st, g, "GetProfile unanswered")
            return
        if svc.registry.source_of(f) is None:  # not the bound meter, or not APS-secured
            svc.c.inc("bad_values")
            self._refused(st, g, "GetProfile answered by another device")
            return
        ds = f.default_status()
        if ds is not None:
            if ds == F.UNSUP_CLUSTER_COMMAND:
                g[_NO_PROFILE] = 1
                log.info(_TAG, "%s: no GetProfile (default response 0x%02x)", m.name, ds)
                self._done(st, g)
            else:
                self._refused(st, g, "GetProfile refused (0x%02x)" % ds)
            return
        self._apply(st, g, f.payload, end, n)

    def _apply(self, st, g, pl, end_asked, n_asked):
        # One GetProfileResponse payload (read in place) for a request of n_asked periods ending
        # at end_asked.
        svc = self.svc
        name = st.meter.name
        if len(pl) < _HDR or pl[3] & 0xC0:  # short, or an end time past 2034 (not a small int)
            svc.c.inc("bad_values")
            self._refused(st, g, "GetProfile malformed")
            return
        end = units.u24_le(pl, 0) | pl[3] << 24
        status = pl[4]
        if status == _ST_TOO_MANY_PERIODS and g[_PER] > 1:
            g[_PER] >>= 1
            g[_AT] = clock.deadline(0)
            log.info(_TAG, "%s: too many periods; %d a request", name, g[_PER])
            return
        if status in (_ST_UNDEFINED_CHANNEL, _ST_UNSUPPORTED_CHANNEL):
            g[_NO_PROFILE] = 1
        if status != _ST_OK:
            # no intervals (that old), an end time it will not serve, or a channel it lacks:
            # the profile can give no more of this gap
            log.info(_TAG, "%s: GetProfile status %d at %s", name, status, clock.iso(end_asked))
            self._done(st, g)
            return
        n = pl[6]
        if pl[5] != _PERIOD_30MIN or end % _HH_S:
            svc.c.inc("bad_values")
            log.warn(_TAG, "%s: profile of period %d ending %d: not half-hours", name, pl[5], end)
            g[_NO_PROFILE] = 1
            self._done(st, g)
            return
        if n > n_asked:
            svc.c.inc("bad_values")
            log.warn(_TAG, "%s: %d periods delivered, %d asked: the extra ignored", name, n,
                     n_asked)  # fmt: skip
            n = n_asked
        if len(pl) < _HDR + 3 * n:
            svc.c.inc("bad_values")
            self._refused(st, g, "GetProfile short (%d periods in %d bytes)" % (n, len(pl)))
            return
        if end > end_asked:
            svc.c.inc("bad_values")
            log.warn(_TAG, "%s: profile ends %s, after the %s asked: later ones ignored", name,
                     clock.iso(end), clock.iso(end_asked))  # fmt: skip
        # accepted: intervals k = 0..n-1 cover [end - (k+1) HH, end - k HH), newest first
        g[_BACKOFF] = 0
        g[_AT] = clock.deadline(0)
        if n == 0:
            self._done(st, g)
            return
        oldest = end - n * _HH_S
        top = min(end, end_asked)
        lo = max(g[_LO], svc.history.visible_from(st.hist))
        self._pl, self._st, self._g = pl, st, g
        g[_R_END], g[_R_N], g[_R_LO], g[_R_TOP] = end, n, lo, top
        filled = 0
        day = (top - 1) // _DAY_S
        try:
            while day * _DAY_S + _DAY_S > max(oldest, lo):
                filled += svc.history.backfill_hh(st.hist, day, self._get)
                day -= 1
        finally:
            self._pl = self._st = self._g = None
        svc.c.inc("backfill_hh", filled)
        now = clock.now()
        if filled and st.summ_milli is not None and top > now - now % _DAY_S:
            svc._publish_today(st, now)  # some of today's half-hours are among them
        log.info(_TAG, "%s: %d half-hours to %s from the meter (%d filled)", name, n,
                 clock.iso(end), filled)  # fmt: skip
        g[_HI] = min(oldest, end_asked - _HH_S)  # strictly back: the gap ends
        if g[_HI] <= g[_LO]:
            self._done(st, g)

    def _get(self, t):
        # store.backfill_hh's question (history/store.py): (wh, cost_mp) of the half-hour
        # starting at t from the response being applied, or None: outside what it delivered,
        # after the end asked for, before the gap or before visible_from (_apply's window).
        st, g, pl = self._st, self._g, self._pl
        if st is None or g is None or pl is None:
            return None
        k = (g[_R_END] - t) // _HH_S - 1
        if k < 0 or k >= g[_R_N] or t < g[_R_LO] or t + _HH_S > g[_R_TOP]:
            return None
        wh = self._wh(st, st.fmt, units.u24_le(pl, _HDR + 3 * k))
        if wh is None:
            self.svc.c.inc("bad_values")
            return None
        g[_FILLED_WH] += wh
        return wh, self.svc.cost_hh(st, t, wh)

    # ---- the end of a gap ----

    def _done(self, st, g):
        if g[_OPEN] == 1 and self._want_days(st, g):
            g[_OPEN] = 2
            g[_AT] = clock.deadline(0)
            return
        self._finish(st, g)

    def _want_days(self, st, g):
        # Day totals are worth a read if the part of the gap the profile did not reach holds a
        # whole day within the meter's previous len(_DAY_IDS) days that the store has nothing of.
        today = clock.now() // _DAY_S
        for back in range(1, len(_DAY_IDS) + 1):
            ds = (today - back) * _DAY_S
            whole = ds >= g[_LO] and ds + _DAY_S <= g[_HI]
            if whole and self.svc.history.day_value(st.hist, today - back) is None:
                return True
        return False

    async def _day_totals(self, st, g):
        # PreviousDay(N)ConsumptionDelivered for the gap's whole days that have no half-hour at
        # all (store.backfill_day refuses the others and pre-visible_from days).
        svc = self.svc
        m = st.meter
        gen = st.gen
        fmt = st.fmt
        got = await svc.zcl.read_attributes(m.node, m.ep, C.METERING, _DAY_IDS + (_FREEZE,))
        if gen != st.gen:
            svc.c.inc("discarded")
            return
        if not got:
            g[_LEFT] -= 1
            if g[_LEFT] > 0:
                self._refused(st, g, "day totals unanswered")
            else:
                self._finish(st, g)
            return
        freeze = got.get(_FREEZE)
        if freeze is None or isinstance(freeze, F.AttrStatus):
            freeze = 0  # not supported: the default, midnight
        today = clock.now() // _DAY_S
        vf = svc.history.visible_from(st.hist)
        n = 0
        for back in range(1, len(_DAY_IDS) + 1):
            day = today - back
            ds = day * _DAY_S
            if ds < g[_LO] or ds + _DAY_S > g[_HI] or ds < vf:
                continue
            v = got.get(_DAY_IDS[back - 1])
            if v is None or isinstance(v, F.AttrStatus) or freeze:
                continue  # unread, or the meter's day starts at another hour: not a UTC day
            if not (_gmt(ds) and _gmt(ds + _DAY_S - 1)):
                continue  # a BST day: an hour off the UTC day
            if svc.history.day_value(st.hist, day) is not None:
                continue  # the store has some of it: kept as it is
            wh = self._wh(st, fmt, v)
            if wh is None:
                continue
            if svc.history.backfill_day(st.hist, ds, wh, svc.cost_hh(st, ds, wh)):
                n += 1
        svc.c.inc("backfill_days", n)

        log.info(_TAG, "%s: %d day totals from the meter", m.name, n)
        self._finish(st, g)

    def _finish(self, st, g):
        # The gap is over. Its measured energy (a long outage) not covered by the profile goes
        # to the newest half-hour of the gap the store still lacks (today's behaviour, one
        # record); if the profile covered every half-hour it is the meter's own account.
        svc = self.svc
        g[_OPEN] = 0
        lump = g[_LUMP_WH]
        if lump < 0 or g[_GEN] != st.gen:
            return
        rest = lump - g[_FILLED_WH]
        t = svc.history.newest_missing(st.hist, g[_LO], g[_TOP])
        if rest > 0 and t >= 0:
            svc.history.append(st.hist, t, rest, svc.cost_hh(st, t, rest))
            log.info(_TAG, "%s: %d Wh of the gap the meter did not account for, at %s",
                     st.meter.name, rest, clock.iso(t))  # fmt: skip
        g[_LUMP_WH] = -1

    def _wh(self, st, fmt, raw):
        # A historical consumption value (raw x multiplier / divisor in the unit) -> Wh.
        milli = units.scaled_milli(raw, fmt)
        if milli is None or milli < 0:
            return None
        if fmt.unit == units.UNIT_M3:
            r = st.gas_ratio
            wh = (
                r.scale(0, milli, 0)
                if milli < 0x1000000
                else r.scale(milli >> 24, milli & 0xFFFFFF, 0)
            )
            return wh + (1 if r.rem >= r.den - r.rem else 0)
        if fmt.unit != units.UNIT_KWH:
            return None
        return milli
