# Helpers for system tests: run hansim + the firmware on the unix port through
# host_tools.simulate, and compute what the scenario says the meters held.
import os

from host_tools.hansim import scenario as scn
from host_tools.hansim.meters import MeterState
from host_tools.simulate import Simulation, parse_until

ZB_UNIX = 946684800


def run(out, scenario="default", until="40m", speed=120, steps=(), **kw):
    # steps: [(duration or ISO, fn(sim))] run in order at those simulated times.
    sim = Simulation(scenario, str(out), speed=speed, **kw)
    try:
        sim.start_hansim()
        start = sim.now()
        sim.start_firmware()
        for when, fn in steps:
            sim.run_until(parse_until(when, start))
            fn(sim)
        sim.run_until(parse_until(until, start))
        sim.final_zigbee = sim.now()  # the firmware's state is dumped just after this
    finally:
        sim.stop()
    sim.render_screens()
    sim.start_zigbee = start
    return sim


def meter_model(scenario, fuel):
    s = scn.load(scenario)
    for spec in s.meters:
        if spec.fuel == fuel:
            return MeterState(spec, s.start_unix)
    raise KeyError(fuel)


def read_log(sim):
    return sim.log_text()


def exists(path):
    return os.path.exists(path)
