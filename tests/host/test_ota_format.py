# OTA files both ways with zigpy 2.4 (the referee): our files parse with
# zigpy.ota.image.parse_ota_image and re-serialize byte for byte; a file zigpy builds
# (OTAImageHeader/SubElement/OTAImage) is accepted by the firmware's verifier (CPython via the
# shim, and on the unix port through `apply --unix-flash`). The build / inspect / apply CLI.
import hashlib
import subprocess
import sys

import pytest
from zigpy.ota import image as Z

from host_tools import upy_shim
from host_tools.ota import cli
from host_tools.ota import fileformat as FF

upy_shim.install()

from ihd.ota import image as IM  # noqa: E402

V2 = 0x00020000
FILES = [("ihd/__init__.py", b"VERSION = 'x'\nFILE_VERSION = 0x00020000\n"),
         ("ihd/hello.py", b"WHO = 'zigpy'\n")]  # fmt: skip


def _verify(data, running=0x00010000, hw=0x0100, **kw):
    v = IM.Verifier(FF.MANUFACTURER_CODE, FF.IMAGE_TYPES["unix"], running, hw, **kw)
    v.reset()
    for i in range(0, len(data), 48):
        if v.feed(data[i : i + 48]):
            return v.reason()
    return v.reason() if v.finish() else "ok"


def test_zigpy_parses_ours():
    data = FF.make_ota(FF.make_bundle(FILES, V2), V2, hw_min=0x0100, hw_max=0x01FF,
                       header_string="IHD test")  # fmt: skip
    img, rest = Z.parse_ota_image(data)
    assert rest == b"" and isinstance(img, Z.OTAImage)
    h = img.header
    assert h.upgrade_file_id == Z.OTAImageHeader.MAGIC_VALUE
    assert h.manufacturer_id == FF.MANUFACTURER_CODE and h.image_type == 0x0100
    assert h.file_version == V2 and h.image_size == len(data) and h.header_length == 60
    assert h.minimum_hardware_version == 0x0100 and h.maximum_hardware_version == 0x01FF
    tags = [int(s.tag_id) for s in img.subelements]
    assert tags == [0x0000, 0xF100]
    assert img.serialize() == data
    assert img.subelements[1].data == hashlib.sha256(data[: len(data) - 38]).digest()
    assert _verify(data) == "ok"


def _zigpy_file(payload, version=V2, hw=None):
    fc = Z.FieldControl(0)
    extra = {}
    if hw:
        fc = Z.FieldControl.HARDWARE_VERSIONS_PRESENT
        extra = dict(minimum_hardware_version=Z.HWVersion(hw[0]),
                     maximum_hardware_version=Z.HWVersion(hw[1]))  # fmt: skip
    hl = 56 + (4 if hw else 0)

    def header(size):
        return Z.OTAImageHeader(
            upgrade_file_id=Z.OTAImageHeader.MAGIC_VALUE, header_version=0x0100,
            header_length=hl, field_control=fc, manufacturer_id=FF.MANUFACTURER_CODE,
            image_type=0x0100, file_version=version, stack_version=2,
            header_string="zigpy built", image_size=size, **extra,
        )  # fmt: skip

    img = Z.SubElement(tag_id=Z.ElementTagId.UPGRADE_IMAGE, data=Z.LVBytes32(payload))
    size = hl + 6 + len(payload) + 6 + 32
    covered = header(size).serialize() + img.serialize()
    dig = Z.SubElement(
        tag_id=Z.ElementTagId(0xF100), data=Z.LVBytes32(hashlib.sha256(covered).digest())
    )
    return Z.OTAImage(header=header(size), subelements=[img, dig]).serialize()


def test_firmware_accepts_zigpy_file(tmp_path):
    data = _zigpy_file(FF.make_bundle(FILES, V2), hw=(0x0100, 0x0100))
    assert _verify(data) == "ok"
    assert _verify(data, hw=0x0200) == "wrong hardware"
    assert _verify(data, running=V2) == "not newer"
    bad = bytearray(data)
    bad[80] ^= 1
    assert _verify(bytes(bad)) == "bad digest"
    # on the unix port, through the local-update path (verify + stage, no activation)
    f = tmp_path / "zigpy.ota"
    f.write_bytes(data)
    flash = tmp_path / "flash.img"
    cmd = [sys.executable, "-m", "host_tools.ota", "apply", str(f), "--unix-flash", str(flash)]
    r = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout


def test_cli_build_inspect_apply(tmp_path, capsys):
    src = tmp_path / "tree"
    for rel, data in FILES:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = tmp_path / "fw.ota"
    assert cli.main(["build", "--version", "0.2.0.0", "--out", str(out), "--files", str(src),
                     "--hw-min", "0x0100", "--hw-max", "0x01FF"]) == 0  # fmt: skip
    data = out.read_bytes()
    Z.parse_ota_image(data)
    assert cli.main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0x0BEEF11E" in text and "0.2.0.0" in text and "SHA-256 element: ok" in text
    assert "ihd/hello.py" in text and "0x0100 .. 0x01FF" in text
    flash = tmp_path / "flash.img"
    assert cli.main(["apply", str(out), "--unix-flash", str(flash)]) == 0
    assert "activated" in capsys.readouterr().out
    # a second local update is refused until the first one has confirmed its health
    assert cli.main(["apply", str(out), "--unix-flash", str(flash)]) == 1
    bad = tmp_path / "bad.ota"
    bad.write_bytes(data[:-1] + bytes((data[-1] ^ 1,)))
    assert cli.main(["apply", str(bad), "--unix-flash", str(flash)]) == 1


@pytest.mark.parametrize("compiled", [True])
def test_build_from_firmware_tree(tmp_path, compiled):
    data = FF.build_firmware_ota(V2, "unix", compiled=compiled)
    ver, entries, contents = FF.parse_bundle(FF.upgrade_image(data))
    paths = [e[0] for e in entries]
    assert ver == V2 and "main.py" not in paths and "ihd/ota/boot.mpy" in paths
    assert "board.py" in paths and "ihd/__init__.mpy" in paths
    assert b"\x00\x02\x00\x00" in contents["ihd/__init__.mpy"] or len(contents["ihd/__init__.mpy"])
    img, _ = Z.parse_ota_image(data)
    assert img.header.file_version == V2
    print("bench: firmware OTA file %d B, %d files, %d blocks of 48 B" % (
        len(data), len(entries), (len(data) + 47) // 48))  # fmt: skip
