# Commissioning against a fake NCP speaking real ASH + EZSP (ashfakes.FakeNcp extended with a
# trust centre): networkInit NOT_JOINED -> setInitialSecurityState(0x0900, install-code key) ->
# active scan -> joinNetwork on the best joinable SE network -> NETWORK_UP; a wrong install
# code is refused (status for the UI, retried with backoff); rejoin secure first, then TC.
import struct

import fwtest
from ashfakes import FakeNcp, settle
from ihd.zigbee import ash, commission, ezsp, installcode, ncp

PORTABLE = True

if not fwtest.IS_UPY:
    from host_tools.history.export import _install

    _install()  # cryptolib stand-in (host only)

CODE = installcode.with_crc(bytes.fromhex("83FED3407A939723A5C639B26916D505"))
KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
XPAN = bytes([8, 7, 6, 5, 4, 3, 2, 1])


class TcNcp(FakeNcp):
    # Not commissioned; one joinable SE network (plus a non-joinable and a non-PRO one); the
    # trust centre accepts only KEY. Rejoins succeed when rejoin_ok.
    def __init__(self, version=14, tc_key=KEY):
        super().__init__(version)
        self.commissioned = False
        self.tc_key = tc_key
        self.security = None
        self.joined = []
        self.rejoins = []
        self.rejoin_ok = {True: True, False: True}
        self.networks = [
            (15, 0x1A62, XPAN, 1, 2, 0, 200, -40),
            (20, 0x2222, bytes(8), 0, 2, 0, 250, -30),  # not permitting joins
            (25, 0x3333, bytes(8), 1, 1, 0, 250, -30),  # not ZigBee PRO
        ]

    def _ezsp(self, d):
        if self.ext:
            seq, fid, p = d[0], d[3] | (d[4] << 8), d[5:]
        else:
            return super()._ezsp(d)
        v14 = self.version >= 14
        up, down, fail = (0x15, 0x16, 0x17) if v14 else (0x90, 0x91, 0x94)
        hdr = ezsp_hdr = bytes([seq, 0x80, 0x01, fid & 0xFF, fid >> 8])
        del ezsp_hdr
        if fid == 0x17 and not self.commissioned:
            self.last_seq = seq
            self.commands.append((fid, p))
            return [hdr + self.st(0x17 if v14 else 0x93)]
        if fid == 0x68:
            self.last_seq = seq
            self.commands.append((fid, p))
            self.security = struct.unpack_from("<H16s16sB8s", p)
            return [hdr + self.st(0)]
        if fid == 0x1A:
            self.last_seq = seq
            self.commands.append((fid, p))
            out = [hdr + self.st(0)]
            for n in self.networks:
                out.append(self.callback(0x1B, struct.pack("<BH8sBBBBb", *n)))
            out.append(self.callback(0x1C, bytes([26]) + self.st(0)))
            return out
        if fid == 0x1F:
            self.last_seq = seq
            self.commands.append((fid, p))
            node_type = p[0]
            params = struct.unpack_from("<8sHbBBHBI", p, 1)
            self.joined.append((node_type, params))
            ok = self.security is not None and self.security[1] == self.tc_key
            if ok:
                self.commissioned = True
                self.network_up = True
            return [hdr + self.st(0), self.callback(0x19, self.st(up if ok else fail))]
        if fid == 0x21:
            self.last_seq = seq
            self.commands.append((fid, p))
            secure = bool(p[0])
            self.rejoins.append(secure)
            ok = self.rejoin_ok[secure]
            if ok:
                self.network_up = True
            return [hdr + self.st(0), self.callback(0x19, self.st(up if ok else down))]
        return super()._ezsp(d)


class FakeModel:
    def __init__(self):
        self.join = []

    def set_join(self, status, ic=None):
        self.join.append((status, ic))


def make(version=14, tc_key=KEY, code=CODE):
    f = TcNcp(version, tc_key)
    a = ash.Ash(f.to_host, f.from_host, t_ack_init_ms=200, t_rstack_ms=200)
    e = ezsp.Ezsp(a, cmd_timeout_ms=500)
    n = ncp.Ncp(e, network_up_timeout_ms=300, sent_timeout_ms=300, backoff_min_ms=20)
    m = FakeModel()
    c = commission.Commissioner(n, code, backoff_min_ms=30, backoff_max_ms=60,
                                scan_timeout_ms=300, join_timeout_ms=300,
                                rejoin_timeout_ms=300, rejoin_grace_ms=20)  # fmt: skip
    n.join = c.join  # as app.py wires it
    c.changed.connect(lambda c: m.set_join(*c.shown()))  # what the Status screen shows
    return f, n, c, m


def test_join_with_install_code_key_v13_and_v14():
    async def main():
        for version in (13, 14):
            f, n, c, m = make(version)
            n.start()
            await n.wait_ready(5000)
            assert n.network_state == ncp.NET_JOINED
            bitmask, key, nwk_key, seqn, tc_eui = f.security
            assert bitmask == 0x0900 and key == KEY and nwk_key == bytes(16)
            assert seqn == 0 and tc_eui == bytes(8)
            # scan: active, all 2.4 GHz channels
            scan = [p for fid, p in f.commands if fid == 0x1A][0]
            assert struct.unpack("<BIB", scan) == (1, 0x07FFF800, 3)
            # only the joinable ZigBee PRO network was tried, as an end device
            assert len(f.joined) == 1
            node_type, params = f.joined[0]
            assert node_type == 3
            assert params[0] == XPAN and params[1] == 0x1A62 and params[3] == 15
            assert params[4] == 0  # MAC association
            assert c.state == commission.JOINED and c.joined_at_boot
            assert m.join[-1] == (None, None)
            # the installer saw the install code while joining
            assert any(ic == installcode.text(CODE) for _, ic in m.join)
            n.stop()

    fwtest.run(main())


def test_wrong_install_code_refused_and_retried():
    async def main():
        f, n, c, m = make(14, tc_key=bytes(16))
        n.start()
        for _ in range(200):
            await settle()
            if c.c.get("refusals") >= 2:
                break
            await __import__("asyncio").sleep_ms(10)
        assert c.c.get("refusals") >= 2
        assert not n.ready()  # never reported ready without a network
        assert c.state == commission.REFUSED
        assert c.last_status == 0x17
        status, ic = m.join[-1]
        assert status.startswith("refused: check install code")
        assert ic == "83FE D340 7A93 9723 A5C6 39B2 6916 D505 C3B5"
        assert len(f.joined) >= 2
        # the installer registers the right code: the next attempt joins
        f.tc_key = KEY
        await n.wait_ready(3000)
        assert c.state == commission.JOINED
        n.stop()

    fwtest.run(main())


def test_no_install_code():
    async def main():
        f, n, c, m = make(14, code=None)
        c.backoff_max_ms = 50
        n.start()
        for _ in range(20):
            await settle()
        assert c.state == commission.NO_CODE and not n.ready()
        assert not any(fid == 0x1F for fid, _ in f.commands)
        n.stop()

    fwtest.run(main())


def test_rejoin_secure_then_trust_centre():
    async def main():
        import asyncio

        f, n, c, m = make(14)
        f.commissioned = True
        n.start()
        await n.wait_ready(3000)
        # the hub goes away: NETWORK_DOWN; secure rejoin fails, TC rejoin works
        f.rejoin_ok = {True: False, False: True}
        f.network_up = False
        f.send_data(f.stack_status(False))
        task = asyncio.create_task(c.run_rejoin())
        for _ in range(100):
            await asyncio.sleep_ms(20)
            if f.rejoins and n.network_state == ncp.NET_JOINED:
                break
        assert f.rejoins[:2] == [True, False]
        rj = [p for fid, p in f.commands if fid == 0x21]
        assert struct.unpack("<BIBB", rj[0]) == (1, 0x07FFF800, 3, 3)
        assert n.network_state == ncp.NET_JOINED and c.state == commission.JOINED
        task.cancel()
        n.stop()

    fwtest.run(main())


def test_factory_reset_leaves_and_erases():
    class Hist:
        def __init__(self):
            self.cuts = []

        def visible_from(self, m):
            return 100

        def truncate(self, m, t):
            self.cuts.append((m, t))

    async def main():
        f, n, c, m = make(14)
        f.commissioned = True
        n.start()
        await n.wait_ready(3000)
        from ihd.zigbee import discovery

        discovery.save([{"name": "elec", "node": 1, "ep": 1, "eui64": None}], "fr_test.json")
        h = Hist()
        await commission.factory_reset(n, h, "fr_test.json")
        assert discovery.load("fr_test.json") is None
        assert [x[0] for x in h.cuts] == [0, 1] and all(x[1] > 100 for x in h.cuts)
        assert any(fid == 0x20 for fid, _ in f.commands)  # leaveNetwork
        n.stop()

    fwtest.run(main())
