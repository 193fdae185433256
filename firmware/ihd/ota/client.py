# Zigbee OTA Upgrade client (cluster 0x0019, zigbee-se.md section 9; docs/ota.md): queries the
# Comms Hub at boot and every `ota_query_s`, and when an ImageNotify selects us (payload types
# 0-3, query jitter); downloads with ImageBlockRequest at `block_size` bytes, honouring
# WAIT_FOR_DATA, ABORT and the server's MinimumBlockPeriod; keeps the download on flash so a
# reboot or power cut resumes at the persisted offset; verifies the file as it arrives
# (image.py), checks its ECDSA signature in steps between event-loop turns (p256.py, keys from
# trust.py), stages the bundle into the inactive slot (slots.py), sends UpgradeEndRequest and
# activates at the time the UpgradeEndResponse gives (now, UTC time, relative delay, or wait).
# An UpgradeEndResponse counts only from our server and for our image (0xFFFF wildcards); an
# explicit refusal of the UpgradeEndRequest never activates; a file found invalid is
# remembered (version and size) so the same file is not fetched again every query period.
# The hub can Read Attributes of our OTA client attributes at any time (CurrentFileVersion is
# the version of the code actually running: the hub's read-back after an upgrade).
#
# Block size 48 (default): the largest ImageBlockResponse that fits one unfragmented APS frame
# with APS security on every stack: 82 B APS payload budget (zcl.client _MAX_PAYLOAD) - 3 B ZCL
# header - 14 B response fields (status, mfr, type, version, offset, data size) = 65 B; 48 leaves
# room for a manufacturer-specific header, source routing and NWK security on a multi-hop HAN,
# and matches what SE hubs commonly serve. Hubs with small buffers may serve less: we accept any
# DataSize 1..block_size.
import asyncio
import binascii
import gc
import os
import random
import struct

from micropython import const

from ihd import ota
from ihd.ota import image as IM
from ihd.ota.slots import OUT_OF_MEMORY
from ihd.runtime import atomic, clock, counters, log
from ihd.zigbee.zcl import clusters as CL

_TAG = "ota"
# ImageUpgradeStatus (attribute 0x0006)
NORMAL = const(0)
DOWNLOADING = const(1)
DOWNLOAD_COMPLETE = const(2)
WAITING_TO_UPGRADE = const(3)
COUNT_DOWN = const(4)
WAIT_FOR_MORE = const(5)
# ZCL status codes of the OTA cluster
SUCCESS = const(0x00)
NOT_AUTHORIZED = const(0x7E)
ABORT = const(0x95)
INVALID_IMAGE = const(0x96)
WAIT_FOR_DATA = const(0x97)
NO_IMAGE_AVAILABLE = const(0x98)
REQUIRE_MORE_IMAGE = const(0x99)
UPGRADE_WAIT = const(0xFFFFFFFF)  # UpgradeTime: do not upgrade yet
WILDCARD = const(0xFFFF)
WILDCARD_VERSION = const(0xFFFFFFFF)

DEFAULT_BLOCK_SIZE = const(48)
_MAX_BLOCK_FAILS = const(30)  # consecutive unanswered blocks before parking the download
_BACKOFF_MAX_S = const(600)
_MAX_WAIT_S = const(3600)  # cap on one WAIT_FOR_DATA / upgrade-wait pause
_NOTIFY_SPREAD_S = const(10)  # selected by ImageNotify: query after 0..10 s
_END_TRIES = const(3)  # UpgradeEndRequest without any answer: then apply (timeout policy 0)
_WAIT_RESEND_S = const(3600)  # after UpgradeTime 0xFFFFFFFF: ask again this often
_SPACE_MARGIN = const(8192)
_STAGE_RETRY_S = const(30)  # staging out of memory: again after this, doubling to _BACKOFF_MAX_S

# Download record "<root>/ota/state" (runtime.atomic): magic, mfr, image type, file version,
# image size, server node, server endpoint, phase. The bytes so far are "<root>/ota/image.bin";
# its size (as of the last littlefs sync) is the persisted offset.
_STATE_FMT = "<4sHHIIHBB"
_STATE_MAGIC = b"IHOD"
# "<root>/ota/invalid" (runtime.atomic): file version and size of the last file found invalid.
_INVALID_FMT = "<II"
PHASE_DOWNLOADING = const(1)
PHASE_COMPLETE = const(2)  # downloaded and verified
PHASE_STAGED = const(3)  # bundle in the inactive slot

_COUNTERS = (
    "queries",
    "query_timeouts",
    "notifies",
    "notifies_ignored",
    "blocks",
    "block_bytes",
    "block_timeouts",
    "block_bad",
    "wait_for_data",
    "server_aborts",
    "invalid_images",
    "invalid_skipped",
    "stage_deferred",
    "end_rsp_ignored",
    "signature_checks",
    "resumes",
    "upgrades",
)


class DownloadStore:
    def __init__(self, root, sync_blocks=8):
        self.dir = root + "/ota"
        self.state_path = self.dir + "/state"
        self.image_path = self.dir + "/image.bin"
        self.sync_blocks = sync_blocks
        self.mfr = self.itype = self.version = self.size = 0
        self.node = 0
        self.ep = 1
        self.phase = 0
        self._f = None
        self._n = 0

    def load(self):
        # -> True if a download record exists (fields set), False otherwise.
        raw = atomic.read(self.state_path)
        if not raw or len(raw) != struct.calcsize(_STATE_FMT):
            return False
        m, self.mfr, self.itype, self.version, self.size, self.node, self.ep, self.phase = (
            struct.unpack(_STATE_FMT, raw)
        )
        return m == _STATE_MAGIC and PHASE_DOWNLOADING <= self.phase <= PHASE_STAGED

    def offset(self):
        try:
            return min(os.stat(self.image_path)[6], self.size)
        except OSError:
            return 0

    def _save(self):
        atomic.write(self.state_path, struct.pack(_STATE_FMT, _STATE_MAGIC, self.mfr, self.itype,
                     self.version, self.size, self.node, self.ep, self.phase))  # fmt: skip

    def begin(self, mfr, itype, version, size, node, ep):
        self.discard()
        try:
            os.mkdir(self.dir)
        except OSError:
            pass
        self.mfr, self.itype, self.version, self.size = mfr, itype, version, size
        self.node, self.ep = node, ep
        self.phase = PHASE_DOWNLOADING
        with open(self.image_path, "wb"):
            pass
        self._save()

    def set_phase(self, phase):
        self.close()
        self.phase = phase
        self._save()

    def append(self, buf):
        if self._f is None:
            self._f = open(self.image_path, "ab")  # noqa: SIM115 - kept open across blocks
        self._f.write(buf)
        self._n += 1
        if self._n >= self.sync_blocks:
            self.sync()

    def sync(self):
        if self._f is not None:
            self._f.flush()  # littlefs: lfs_file_sync, the new length survives a power cut
        self._n = 0

    def truncate_to(self, n):
        # After a reboot the file may end in a partial block: keep the first n bytes.
        self.close()
        if self.offset() == n:
            return
        tmp = self.image_path + ".tmp"
        buf = bytearray(256)
        mv = memoryview(buf)
        with open(self.image_path, "rb") as src, open(tmp, "wb") as dst:
            left = n
            while left:
                k = src.readinto(buf if left >= len(buf) else mv[:left])
                if not k:
                    break
                dst.write(mv[:k])
                left -= k
        os.rename(tmp, self.image_path)

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        self._n = 0

    def discard(self):
        self.close()
        atomic.remove(self.state_path)
        for p in (self.image_path, self.image_path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass
        self.phase = 0


def _hex(b):
    return binascii.hexlify(b).decode() if b else "-"


def rand_below(n):
    # Uniform in 0..n-1 (n <= 256) by rejection: `getrandbits(k) % n` favours the low values.
    k = 1
    while (1 << k) < n:
        k += 1
    while True:
        r = random.getrandbits(k)
        if r < n:
            return r


class OtaClient:
    def __init__(self, zcl, slots, board=None, root="/flash", server_node=0x0000, server_ep=1,
                 block_size=DEFAULT_BLOCK_SIZE, query_s=86400, sync_blocks=8,
                 allow_downgrade=False, hmac_key=None, eui64=None, reboot=None,
                 max_image_bytes=0, start_delay_s=300, keys=None,
                 allow_unsigned=False):  # fmt: skip
        # eui64: our IEEE address (wire order) or a callable giving it once the NCP knows it;
        # a device-specific file for another (or an unknown) address is refused.
        # keys / allow_unsigned: see image.Verifier (trust.load(); a development setting).
        self.zcl = zcl
        self.start_delay_s = start_delay_s
        self.slots = slots
        self.root = root
        self.server_node = server_node
        self.server_ep = server_ep
        self.block_size = max(1, min(block_size, 255))
        self.query_s = query_s
        self.reboot = reboot
        self.max_image_bytes = max_image_bytes  # 0: limited by free flash only
        self.manufacturer = ota.MANUFACTURER_CODE
        self.image_type = ota.image_type(board)
        self.hw_version = ota.hw_version(board)
        self.running = ota.running_version()
        self.counters = counters.Counters("ota", _COUNTERS)
        self.store = DownloadStore(root, sync_blocks)
        self._eui64 = eui64
        self.verifier = IM.Verifier(self.manufacturer, self.image_type, self.running,
                                    self.hw_version, None, allow_downgrade, hmac_key, keys,
                                    allow_unsigned)  # fmt: skip
        self.longest_step_ms = 0  # of the last signature check (bench, status)
        self.allow_downgrade = allow_downgrade
        # attribute values
        self.status = NORMAL
        self.offset = 0
        self.downloaded_version = 0xFFFFFFFF
        self.min_block_period_ms = 0
        self.server_eui64 = b"\xff" * 8
        self.last_result = None  # (status sent in UpgradeEndRequest or reason string)
        self._wake = asyncio.Event()
        self._end_ev = asyncio.Event()
        self._end_args = None
        self._query_delay_s = 0
        self._values = {
            "field_control": 0x02,  # our MinimumBlockPeriod present
            "manufacturer_code": 0,
            "image_type": 0,
            "file_version": 0,
            "file_offset": 0,
            "max_data_size": self.block_size,
            "request_node_addr": None,
            "min_block_period_ms": 0,
        }
        # The OTA client attributes a server reads (ids and types from the cluster table).
        local = (
            ("upgrade_server_id", lambda: self.server_eui64),
            ("file_offset", lambda: self.offset),
            ("current_file_version", lambda: self.running),
            ("current_stack_version", ota.STACK_VERSION),
            ("downloaded_file_version", lambda: self.downloaded_version),
            ("image_upgrade_status", lambda: self.status),
            ("manufacturer_id", self.manufacturer),
            ("image_type_id", lambda: self.store.itype if self.status else WILDCARD),
            ("min_block_period_ms", lambda: self.min_block_period_ms),
            ("activation_policy", 0),  # server (hub) activation allowed
            ("timeout_policy", 0),  # apply after the timeout
        )
        ids = CL.attr_ids(CL.OTA, [n for n, _ in local], CL.CLIENT)
        zcl.local_cluster(CL.OTA, [
            (a, CL.attr_type(CL.OTA, a, CL.CLIENT), v, False) for a, (_, v) in zip(ids, local)
        ])  # fmt: skip
        zcl.on_command(CL.OTA, CL.OTA_IMAGE_NOTIFY, CL.S2C, self._on_notify)
        zcl.on_command(CL.OTA, CL.OTA_UPGRADE_END_RSP, CL.S2C, self._on_end_rsp)

    # ---------------- incoming unsolicited commands ----------------

    def _on_notify(self, f, a):
        self.counters.inc("notifies")
        pt = a["payload_type"]
        jitter = a["query_jitter"]
        ok = pt <= 3 and 1 <= jitter <= 100 and self.status == NORMAL
        if ok and pt >= 1 and a["manufacturer_code"] not in (self.manufacturer, WILDCARD):
            ok = False
        if ok and pt >= 2 and a["image_type"] not in (self.image_type, WILDCARD):
            ok = False
        if ok and pt >= 3 and a["new_file_version"] == self.running:
            ok = False
        if ok and rand_below(100) + 1 > jitter:  # selected with probability jitter/100
            ok = False
        if not ok:
            self.counters.inc("notifies_ignored")
            return None
        log.info(_TAG, "image notify (type %d, jitter %d): querying", pt, jitter)
        self._query_delay_s = rand_below(_NOTIFY_SPREAD_S + 1)
        self._wake.set()
        return None

    def _on_end_rsp(self, f, a):
        # An UpgradeEndResponse sent later by the server (after "wait", or to reschedule). Only
        # our server's, for the image we hold, may move the activation.
        if f.node != self.server_node:
            self.counters.inc("end_rsp_ignored")
            log.warn(_TAG, "UpgradeEndResponse from 0x%04x, not our server: ignored", f.node)
            return None
        if not self._end_rsp_ours(a):
            return None
        if self.status not in (WAITING_TO_UPGRADE, COUNT_DOWN):
            self.counters.inc("end_rsp_ignored")
            log.info(_TAG, "UpgradeEndResponse while not waiting to upgrade: ignored")
            return None
        self._end_args = a
        self._end_ev.set()
        return None

    def _end_rsp_ours(self, a):
        # SE OTA: the response names our manufacturer, image type and file version, each
        # possibly the wildcard (0xFFFF / 0xFFFFFFFF: "every device").
        st = self.store
        if (a["manufacturer_code"] in (st.mfr, WILDCARD)
                and a["image_type"] in (st.itype, WILDCARD)
                and a["file_version"] in (st.version, WILDCARD_VERSION)):  # fmt: skip
            return True
        self.counters.inc("end_rsp_ignored")
        log.warn(_TAG, "UpgradeEndResponse for mfr 0x%04x type 0x%04x version 0x%08x: not ours",
                 a["manufacturer_code"], a["image_type"], a["file_version"])  # fmt: skip
        return False

    # ---------------- main task ----------------

    async def run(self):
        self.resume()
        first = True
        while True:
            if self.status == DOWNLOADING:
                await self.download()
            elif self.status in (DOWNLOAD_COMPLETE, WAITING_TO_UPGRADE, COUNT_DOWN):
                if await self.finish():
                    return  # activated; the reboot hook resets the device
            else:
                if first:
                    await self._start_delay()
                else:
                    await self._idle_wait()
                first = False
                if self._query_delay_s:
                    await clock.sleep_s(self._query_delay_s)
                    self._query_delay_s = 0
                await self.query()

    async def _start_delay(self):
        # First query after a random start delay (as the Silicon Labs client: up to 5 min), so
        # a device booting with the rest of the HAN, or after a power cut with its neighbours,
        # does not add to the busiest minute. An ImageNotify ends it early.
        import os

        delay_s = self.start_delay_s * os.urandom(1)[0] // 255
        if delay_s:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay_s / clock.scale())
            except asyncio.TimeoutError:
                pass

    async def _idle_wait(self):
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), max(1, self.query_s) / clock.scale())
        except asyncio.TimeoutError:
            pass

    def resume(self):
        # At boot: pick up a download, a verified image or a staged one from flash.
        st = self.store
        if not st.load():
            st.discard()
            return
        if st.version == self.running or st.mfr != self.manufacturer:
            st.discard()  # already running it (activated before the cut), or not ours
            return
        self.server_node, self.server_ep = st.node, st.ep
        if st.phase == PHASE_DOWNLOADING:
            n = self._refeed(st.offset())
            if n < 0:
                st.discard()
                return
            st.truncate_to(n)
            self.offset = n
            self.status = DOWNLOADING
            self.counters.inc("resumes")
            log.info(_TAG, "resuming %s at %d/%d", IM.file_version_str(st.version), n, st.size)
        else:
            self.status = DOWNLOAD_COMPLETE
            self.downloaded_version = st.version

    def _set_eui64(self):
        e = self._eui64
        self.verifier.eui64 = e() if callable(e) else e

    def _invalid_before(self, version, size):
        raw = atomic.read(self.root + "/ota/invalid")
        return bool(raw) and len(raw) == 8 and struct.unpack(_INVALID_FMT, raw) == (version, size)

    def _refeed(self, n):
        # Rebuild the verifier state over the first n bytes on flash. -> bytes kept or -1.
        self._set_eui64()
        v = self.verifier
        v.reset(self.store.version, self.store.size)
        buf = bytearray(256)
        mv = memoryview(buf)
        done = 0
        try:
            with open(self.store.image_path, "rb") as f:
                while done < n:
                    k = f.readinto(buf if n - done >= len(buf) else mv[: n - done])
                    if not k:
                        break
                    if v.feed(buf if k == len(buf) else mv[:k]):
                        log.warn(_TAG, "partial download rejected: %s", v.reason())
                        return -1
                    done += k
        except OSError:
            return 0 if not done else -1
        return done

    async def query(self):
        # QueryNextImageRequest; starts a download when the server offers a usable image.
        self.counters.inc("queries")
        vals = {
            "field_control": 0x01,
            "manufacturer_code": self.manufacturer,
            "image_type": self.image_type,
            "current_file_version": self.running,
            "hardware_version": self.hw_version,
        }
        rsp = await self.zcl.command(self.server_node, self.server_ep, CL.OTA,
                                     CL.OTA_QUERY_NEXT_IMAGE, vals,
                                     rsp_cmd=CL.OTA_QUERY_NEXT_IMAGE_RSP)  # fmt: skip
        if rsp is None:
            self.counters.inc("query_timeouts")
            return False
        if rsp.default_status() is not None or rsp.args is None:
            return False
        a = rsp.args
        if a["status"] != SUCCESS:
            return False
        if rsp.eui64:
            self.server_eui64 = rsp.eui64
        mfr, itype, ver, size = (a["manufacturer_code"], a["image_type"], a["file_version"],
                                 a["image_size"])  # fmt: skip
        if mfr != self.manufacturer or itype != self.image_type:
            log.warn(_TAG, "server offered mfr 0x%04x type 0x%04x: not ours", mfr, itype)
            return False
        if ver == self.slots.rejected_version():
            log.info(_TAG, "offered %s was rolled back before: ignored", IM.file_version_str(ver))
            return False
        if self._invalid_before(ver, size):
            self.counters.inc("invalid_skipped")
            log.info(_TAG, "offered %s (%d B) was invalid before: ignored",
                     IM.file_version_str(ver), size)  # fmt: skip
            return False
        if (ver <= self.running and not self.allow_downgrade) or ver == self.running:
            log.info(_TAG, "offered %s is not newer: ignored", IM.file_version_str(ver))
            return False
        if not self.slots.can_stage():
            log.info(_TAG, "running firmware not confirmed yet: upgrade deferred")
            return False
        if not self._room_for(size):
            log.warn(_TAG, "no room for a %d B image", size)
            return False
        st = self.store
        same = (st.load() and st.phase == PHASE_DOWNLOADING and st.version == ver and
                st.size == size and st.itype == itype)  # fmt: skip
        self.server_node, self.server_ep = rsp.node, rsp.src_ep
        if same:
            self.resume()
            if self.status == DOWNLOADING:
                return True
        st.begin(mfr, itype, ver, size, rsp.node, rsp.src_ep)
        self._set_eui64()
        self.verifier.reset(ver, size)
        self.offset = 0
        self.status = DOWNLOADING
        log.info(_TAG, "downloading %s (%d B) from 0x%04x", IM.file_version_str(ver), size,
                 rsp.node)  # fmt: skip
        return True

    def _room_for(self, size):
        if self.max_image_bytes and size > self.max_image_bytes:
            return False
        if size < IM.MIN_HEADER_LEN + 6 + 38:
            return False
        try:
            s = os.statvfs(self.root)
            free = s[0] * s[3]
        except (OSError, AttributeError):
            return True
        # The file, plus the slot it is staged into (bundle ~ the same size).
        return free >= 2 * size + _SPACE_MARGIN

    async def download(self):
        # Block loop until complete, aborted or parked. -> True when complete and verified.
        st = self.store
        v = self.verifier
        vals = self._values
        vals["manufacturer_code"] = st.mfr
        vals["image_type"] = st.itype
        vals["file_version"] = st.version
        fails = 0
        c = self.counters
        while self.offset < st.size:
            vals["file_offset"] = self.offset
            vals["max_data_size"] = min(self.block_size, st.size - self.offset)
            vals["min_block_period_ms"] = self.min_block_period_ms
            t_req_ms = clock.ticks_ms()
            rsp = await self.zcl.command(self.server_node, self.server_ep, CL.OTA,
                                         CL.OTA_IMAGE_BLOCK, vals,
                                         rsp_cmd=CL.OTA_IMAGE_BLOCK_RSP)  # fmt: skip
            a = None
            if rsp is not None and rsp.default_status() is None:
                a = rsp.args
            if a is None:
                fails += 1
                c.inc("block_timeouts")
                if rsp is not None and rsp.default_status() in (NO_IMAGE_AVAILABLE, ABORT):
                    return self._abandon("server: status 0x%02x" % rsp.default_status())
                if fails >= _MAX_BLOCK_FAILS:
                    # Congested or lost link: park. The file stays; the next query resumes.
                    st.sync()
                    self.status = NORMAL
                    log.warn(_TAG, "download parked at %d/%d", self.offset, st.size)
                    return False
                await clock.sleep_s(min(_BACKOFF_MAX_S, 1 << min(fails, 10)))
                continue
            s = a["status"]
            if s == SUCCESS:
                data = a["image_data"]
                n = len(data)
                if (a["file_offset"] != self.offset or a["file_version"] != st.version or
                        a["manufacturer_code"] != st.mfr or a["image_type"] != st.itype or
                        n == 0 or n > vals["max_data_size"]):  # fmt: skip
                    c.inc("block_bad")
                    fails += 1
                    continue
                if v.feed(data):
                    return await self._invalid(v.reason())
                st.append(data)
                self.offset += n
                fails = 0
                c.inc("blocks")
                c.inc("block_bytes", n)
                # MinimumBlockPeriod spaces consecutive requests: the exchange itself counts
                # (waiting the whole period after each answer lost ~25% of the allowed rate).
                wait_ms = self.min_block_period_ms - clock.ticks_diff_ms(t_req_ms)
                if wait_ms > 0:
                    await asyncio.sleep_ms(wait_ms)
            elif s == WAIT_FOR_DATA:
                c.inc("wait_for_data")
                ct, rt = a["current_time"], a["request_time"]
                delay_s = rt if not ct else max(0, rt - ct)
                mbp = a["min_block_period_ms"]
                if mbp is not None:
                    self.min_block_period_ms = mbp
                log.info(_TAG, "server: wait %d s (min block period %d ms)", delay_s,
                         self.min_block_period_ms)  # fmt: skip
                st.sync()
                await clock.sleep_s(max(1, min(delay_s, _MAX_WAIT_S)))
            elif s == ABORT:
                c.inc("server_aborts")
                return self._abandon("server aborted")
            else:
                return self._abandon("server: status 0x%02x" % s)
        st.sync()
        if not await self._verified():
            return await self._invalid(v.reason())
        st.set_phase(PHASE_COMPLETE)
        self.status = DOWNLOAD_COMPLETE
        self.downloaded_version = st.version
        log.info(_TAG, "download complete: %s", IM.file_version_str(st.version))
        return True

    async def _verified(self):
        # The verifier has seen the whole file: its signature check, one bounded step per
        # event-loop turn (the UI and the HAN keep running), then the final verdict.
        v = self.verifier
        job = v.signature_job()
        if job is not None:
            self.counters.inc("signature_checks")
            t0_ms = clock.ticks_ms()
            longest_ms = 0
            while True:
                t_ms = clock.ticks_ms()
                done = job.step()
                longest_ms = max(longest_ms, clock.ticks_diff_ms(t_ms))
                if done is not None:
                    break
                await asyncio.sleep_ms(0)
            self.longest_step_ms = longest_ms
            log.info(_TAG, "signature (key %s) %s: %d ms, longest step %d ms",
                     _hex(v.signer), "valid" if job.result else "BAD",
                     clock.ticks_diff_ms(t0_ms), longest_ms)  # fmt: skip
        return not v.finish()

    def _abandon(self, why):
        log.warn(_TAG, "download abandoned: %s", why)
        self.last_result = why
        self.store.discard()
        self.offset = 0
        self.status = NORMAL
        return False

    async def _invalid(self, why):
        # A bad image: tell the server, drop it, keep running what we run, and do not fetch
        # the same file again (a new release has another version; a fixed file another size).
        self.counters.inc("invalid_images")
        log.warn(_TAG, "invalid image: %s", why)
        st = self.store
        atomic.write(self.root + "/ota/invalid", struct.pack(_INVALID_FMT, st.version, st.size))
        await self._end_request(INVALID_IMAGE, retries=0)
        self._abandon("invalid image: " + why)
        self.last_result = why
        return False

    async def _end_request(self, status, retries=2):
        st = self.store
        vals = {
            "status": status,
            "manufacturer_code": st.mfr,
            "image_type": st.itype,
            "file_version": st.version,
        }
        return await self.zcl.command(self.server_node, self.server_ep, CL.OTA,
                                      CL.OTA_UPGRADE_END, vals, rsp_cmd=CL.OTA_UPGRADE_END_RSP,
                                      retries=retries)  # fmt: skip

    async def finish(self):
        # Stage (if not yet), UpgradeEndRequest SUCCESS, wait for the upgrade time, activate.
        st = self.store
        wait_s = _STAGE_RETRY_S
        while st.phase < PHASE_STAGED:
            # After a reboot the verdict is gone: check the file again (the signature in steps)
            # so staging, which re-reads it, finds the same bytes already verified.
            v = self.verifier
            if not v.sig_ok and v.keys and (self._refeed(st.size) != st.size
                                            or not await self._verified()):  # fmt: skip
                return await self._invalid("download on flash: %s" % self.verifier.reason())
            gc.collect()  # staging opens two files at once: give it the heap's biggest holes
            ok, res = self.slots.stage(st.image_path, self.verifier, None, st.version, st.size)
            if ok:
                st.set_phase(PHASE_STAGED)
            elif res is not OUT_OF_MEMORY:
                return await self._invalid("staging: %s" % res)
            else:
                # Not the image's fault: the heap had no room in one piece. The verified file
                # stays on flash; try again later (the heap changes as the device runs).
                self.counters.inc("stage_deferred")
                log.warn(_TAG, "staging deferred %d s: out of memory", wait_s)
                await clock.sleep_s(wait_s)
                wait_s = min(wait_s * 2, _BACKOFF_MAX_S)
        tries = 0
        while True:
            self._end_ev.clear()
            self._end_args = None
            rsp = await self._end_request(SUCCESS)
            a = None
            if rsp is not None:
                ds = rsp.default_status()
                if ds is None:
                    a = rsp.args
                    if a is not None and not self._end_rsp_ours(a):
                        a = None  # answered, but not for this image: as if unanswered
                elif ds:
                    # An explicit error (ABORT, NOT_AUTHORIZED, UNSUP_CLUSTER_COMMAND, ...):
                    # the server said no. Only silence falls under the timeout policy.
                    return self._abandon("server refused the upgrade (0x%02x)" % ds)
            if a is None:
                tries += 1
                if tries < _END_TRIES:
                    await clock.sleep_s(min(_BACKOFF_MAX_S, 30 * tries))
                    continue
                log.warn(_TAG, "no UpgradeEndResponse: applying (timeout policy)")
                delay_s = 0
            else:
                delay_s = self._delay_from(a)
            while delay_s is None or delay_s > 0:
                # wait (0xFFFFFFFF) or count down; a later UpgradeEndResponse reschedules
                self.status = WAITING_TO_UPGRADE if delay_s is None else COUNT_DOWN
                pause = _WAIT_RESEND_S if delay_s is None else min(delay_s, _MAX_WAIT_S)
                try:
                    await asyncio.wait_for(self._end_ev.wait(), max(1, pause) / clock.scale())
                except asyncio.TimeoutError:
                    if delay_s is None:
                        break  # ask again with a new UpgradeEndRequest
                    delay_s -= pause
                    continue
                self._end_ev.clear()
                delay_s = self._delay_from(self._end_args)
            if delay_s is None:
                continue
            return self.apply()

    def _delay_from(self, a):
        # UpgradeEndResponse timing -> seconds from now, or None for "wait".
        if a is None:
            return None
        ut, ct = a["upgrade_time"], a["current_time"]
        if ut == UPGRADE_WAIT:
            return None
        if not ct:
            return ut  # CurrentTime 0: UpgradeTime is a relative offset
        return max(0, ut - ct)

    def apply(self):
        st = self.store
        if not self.slots.activate(st.version):
            return self._abandon("activation refused (slot incomplete)")
        self.counters.inc("upgrades")
        self.last_result = "activated"
        st.discard()
        self.status = NORMAL
        log.info(_TAG, "upgrade to %s activated: rebooting", IM.file_version_str(st.version))
        if self.reboot is not None:
            self.reboot()
        return True
