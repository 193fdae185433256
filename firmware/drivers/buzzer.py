# Piezo buzzer on a PWM pin: one short pattern per alert, played in the background so the
# caller (the prepayment service's alert check) never waits. A new alert while one is playing
# is dropped: one pattern at a time, never a queue that grows.
#
#   bz = Buzzer(machine.PWM(machine.Pin(21)))
#   bz.alert("elec", "low_credit")
# MIT license
import asyncio

from micropython import const

_DUTY_ON = const(32768)  # 50 %: loudest for a piezo transducer
# (on_ms, off_ms) repeats per alert kind; unknown kinds get one beep.
_PATTERNS = {"low_credit": (3, 120, 120), "ec_in_use": (2, 250, 150)}
_DEFAULT = (1, 200, 0)


class Buzzer:
    # pwm: a constructed machine.PWM (or anything with freq(hz) and duty_u16(v)).
    def __init__(self, pwm, freq_hz=2700):
        self.pwm = pwm
        pwm.freq(freq_hz)  # piezo resonance of the usual 12 mm transducers
        pwm.duty_u16(0)
        self.beeps = 0  # patterns started (status screen, tests)
        self._busy = False

    def alert(self, meter, kind):
        # fn(meter_name, alert_kind), the prepayment service's buzzer hook.
        if self._busy:
            return
        self._busy = True
        self.beeps += 1
        asyncio.create_task(self._play(_PATTERNS.get(kind, _DEFAULT)))

    async def _play(self, pattern):
        n, on_ms, off_ms = pattern
        try:
            for _ in range(n):
                self.pwm.duty_u16(_DUTY_ON)
                await asyncio.sleep_ms(on_ms)
                self.pwm.duty_u16(0)
                await asyncio.sleep_ms(off_ms)
        finally:
            self.pwm.duty_u16(0)
            self._busy = False

    def off(self):
        self.pwm.duty_u16(0)
