# Install code -> preconfigured link key (docs/joining.md): CRC-16/X-25 appended little-endian,
# then the AES-MMO hash. The published vector must hold on the unix port (cryptolib) and under
# CPython (the history exporter's cryptolib stand-in over `cryptography`).
import fwtest

PORTABLE = True

if not fwtest.IS_UPY:
    from host_tools.history.export import _install

    _install()  # cryptolib.aes over `cryptography`; host-only, never staged

from ihd.zigbee import installcode as ic  # noqa: E402

CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505")
KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")


def test_crc_appended_little_endian():
    assert ic.crc16(CODE) == 0xB5C3
    full = ic.with_crc(CODE)
    assert full[16:] == b"\xc3\xb5"
    ic.check(full)


def test_vector_link_key():
    assert ic.link_key(ic.with_crc(CODE)) == KEY


def test_parse_text_forms():
    assert ic.parse("83FE D340 7A93 9723 A5C6 39B2 6916 D505") == ic.with_crc(CODE)
    assert ic.parse("83-FE-D3-40-7A-93-97-23-A5-C6-39-B2-69-16-D5-05-C3-B5") == ic.with_crc(CODE)
    assert ic.text(ic.with_crc(CODE)) == "83FE D340 7A93 9723 A5C6 39B2 6916 D505 C3B5"


def test_bad_codes_rejected():
    fwtest.raises(ic.InstallCodeError, ic.parse, "83FED3407A939723A5C639B26916D505C3B6")
    fwtest.raises(ic.InstallCodeError, ic.parse, "83FED3")
    fwtest.raises(ic.InstallCodeError, ic.parse, "zz")
    fwtest.raises(ic.InstallCodeError, ic.link_key, CODE + b"\x00\x00")


def test_mmo_multi_block_and_short_codes():
    # 6-byte code (8 with CRC): one block; 16-byte code: two blocks after padding.
    short = ic.with_crc(bytes(range(6)))
    assert len(ic.link_key(short)) == 16
    assert ic.link_key(short) != ic.link_key(ic.with_crc(bytes(range(1, 7))))
    assert ic.aes_mmo(b"") != ic.aes_mmo(b"\x00")


def test_store_and_load_roundtrip():
    import os

    path = "ic_test.bin"
    try:
        full = ic.with_crc(CODE)
        ic.store(full, path)
        assert ic.load(path) == full
        assert ic.load("no_such_file") is None
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass
