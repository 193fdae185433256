# python -m host_tools.history plot IMAGE --out DIR [--format png|svg] [--at UTC] [--block-size N]
# Charts of a storage image's history over the periods the device's screens show (docs/history.md,
# firmware/ihd/history/view.py): a day by half-hour, 8 days, 5 weeks, 13 months. One file per
# period (day, 8-days, 5-weeks, 13-months), each with energy (kWh) and cost (GBP) of both fuels.
# The image is read by export.read_image (the firmware's own store code: the rows `history
# export` prints) and bucketed by the firmware's buckets.py (UTC days, weeks from Monday, calendar
# months; a week or month is the sum of its days, as the store serves it). The charts end at the
# latest half-hour in the image unless --at says otherwise. matplotlib with the Agg backend.
import argparse
import datetime
import os
import sys

from littlefs import errors as lfs_errors

from host_tools import cli, paths
from host_tools.history import export

HALF_HOUR, DAY, WEEK, MONTH = 0, 1, 2, 3  # firmware/ihd/history/buckets.py RES_*
# file name, title, resolution, bucket count: view.py's _PERIODS
PERIODS = (
    ("day", "the day by half-hour", HALF_HOUR, 48),
    ("8-days", "8 days", DAY, 8),
    ("5-weeks", "5 weeks", WEEK, 5),
    ("13-months", "13 months", MONTH, 13),
)
FUELS = (("elec", "Electricity", "#e69f00"), ("gas", "Gas", "#0072b2"))
SIZE_IN = (10, 6)  # inches at DPI: a 1000x600 PNG
DPI = 100


def _secs(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return int((t - export._EPOCH).total_seconds())


def _utc(t_s):
    return export._EPOCH + datetime.timedelta(seconds=t_s)


def parse_at(text):
    # "YYYY-MM-DD" (the end of that UTC day) or "YYYY-MM-DDTHH:MM[:SS][Z]" -> seconds since 2000
    text = text.strip().rstrip("Z")
    for fmt, end_of_day in (
        ("%Y-%m-%d", True),
        ("%Y-%m-%dT%H:%M:%S", False),
        ("%Y-%m-%dT%H:%M", False),
    ):
        try:
            t = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        s = int((t.replace(tzinfo=datetime.timezone.utc) - export._EPOCH).total_seconds())
        return s + 86399 if end_of_day else s
    raise argparse.ArgumentTypeError(
        "want a UTC date or time, e.g. 2025-05-10 or 2025-05-10T18:30Z"
    )


def latest(rows):
    # The start of the newest half-hour in the rows (else of the newest day), or None.
    hh = [_secs(r["start"]) for r in rows if r["resolution"] == "half_hour"]
    days = [_secs(r["start"]) for r in rows if r["resolution"] == "day"]
    return max(hh) if hh else (max(days) if days else None)


def series(rows, meter, res, now_s, count):
    # -> [(start_s, end_s, energy_kwh or None, cost_gbp or None)] of the `count` buckets up to the
    # one holding now_s, oldest first; None: no data in the bucket.
    from ihd.history import buckets as B  # on sys.path once export.read_image has run

    hh, days = {}, {}
    for r in rows:
        if r["meter"] != meter:
            continue
        t = _secs(r["start"])
        if r["resolution"] == "half_hour":
            hh[t] = (r["energy_kwh"], r["cost_pence"])
        else:  # a day rebuilt after a change of tenancy starts at T: key it by its UTC day
            days[B.day_start(t)] = (r["energy_kwh"], r["cost_pence"])
    if res == B.RES_HALF_HOUR:  # the UTC day holding now_s, as the store's today()
        now_s = B.day_start(now_s) + B.DAY_S - 1
    out = []
    for s in B.bucket_starts(res, now_s, count):
        end = B.bucket_end(res, s)
        if res == B.RES_HALF_HOUR:
            vals = [hh[s]] if s in hh else []
        else:
            vals = [days[d] for d in range(s, end, B.DAY_S) if d in days]
        if vals:
            out.append((s, end, sum(v[0] for v in vals), sum(v[1] for v in vals) / 100))
        else:
            out.append((s, end, None, None))
    return out


def _label(res, t_s):
    d = _utc(t_s)
    if res == HALF_HOUR:
        return d.strftime("%H:%M")
    if res == DAY:
        return d.strftime("%a %d")
    if res == WEEK:
        return d.strftime("%d %b")
    return d.strftime("%b %y")


def draw(rows, now_s, out_dir, fmt="png", name=""):
    # Writes one chart per period into out_dir; -> the paths written.
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        cli.fail("history plot needs matplotlib (pip install matplotlib)")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for stem, title, res, count in PERIODS:
        fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
        axes = fig.subplots(2, 2)
        ser = []
        for row, (meter, fuel, colour) in enumerate(FUELS):
            ser = series(rows, meter, res, now_s, count)
            xs = list(range(len(ser)))
            step = 6 if res == HALF_HOUR else 1  # half-hours: a label every 3 hours
            for col, (idx, what, unit) in enumerate(((2, "energy", "kWh"), (3, "cost", "GBP"))):
                ax = axes[row][col]
                vals = [float("nan") if b[idx] is None else b[idx] for b in ser]
                have = [v for v in vals if v == v]
                ax.bar(xs, vals, color=colour, width=0.8)
                ax.set_xticks(xs[::step], [_label(res, b[0]) for b in ser][::step], fontsize=7)
                ax.tick_params(axis="y", labelsize=7)
                ax.set_xlim(-0.6, len(ser) - 0.4)
                total = ("total %.2f" % sum(have)) if have else "no data"
                ax.set_title("%s %s, %s (%s)" % (fuel, what, unit, total), fontsize=9)
                ax.grid(axis="y", alpha=0.3)
                if not have:
                    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                    ax.set_yticks([])
        first = _utc(ser[0][0]).strftime("%Y-%m-%d")
        last = _utc(ser[-1][1] - 1).strftime("%Y-%m-%d")
        span = first if first == last else "%s to %s" % (first, last)
        fig.suptitle("%s%s, %s (UTC)" % (name + ": " if name else "", title, span), fontsize=11)
        path = os.path.join(out_dir, "%s.%s" % (stem, fmt))
        fig.savefig(path, format=fmt, dpi=DPI)
        written.append(path)
    return written


@cli.guarded("history plot")
def main(argv=None):
    prog = "ihd-history plot" if os.path.basename(sys.argv[0]).startswith("ihd-") else None
    ap = cli.ArgumentParser(
        prog=prog or "python -m host_tools.history plot",
        description="charts of a storage image's history: a day by half-hour, 8 days, 5 weeks, "
        "13 months; energy and cost of both fuels",
    )
    ap.add_argument("image", help="device storage image (littlefs + key region), e.g. flash.img")
    ap.add_argument("--out", required=True, metavar="DIR", help="directory for the charts")
    ap.add_argument("--format", choices=("png", "svg"), default="png")
    ap.add_argument(
        "--at",
        type=parse_at,
        metavar="UTC",
        help="the charts end at this UTC date or time (default: the latest half-hour stored)",
    )
    ap.add_argument("--block-size", type=int, default=None)
    a = ap.parse_args(argv)
    paths.require_checkout("history plot")  # the firmware's store code reads the image
    try:
        with open(a.image, "rb") as f:
            image = f.read()
    except OSError as e:
        cli.fail("%s: %s" % (a.image, e.strerror or e))
    try:
        rows = export.read_image(image, a.block_size)
    except SystemExit as e:  # not a littlefs image
        cli.fail("%s: %s" % (a.image, e.code))
    except lfs_errors.LittleFSError as e:
        cli.fail("%s: littlefs error: %s" % (a.image, cli.describe(e)))
    now_s = a.at if a.at is not None else latest(rows)
    if now_s is None:
        print("%s: no history stored; the charts are empty" % a.image, file=sys.stderr)
        now = datetime.datetime.now(datetime.timezone.utc)
        now_s = int((now - export._EPOCH).total_seconds())
    try:
        written = draw(rows, now_s, a.out, a.format, os.path.basename(a.image))
    except OSError as e:
        cli.fail("%s: %s" % (e.filename or a.out, e.strerror or e))
    for p in written:
        print(p)
    return 0
