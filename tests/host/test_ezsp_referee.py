# Referee: the firmware's incomingMessageHandler decoder (ihd/zigbee/ezsp.py, under CPython
# through host_tools.upy_shim) against parameters serialized by bellows' own v13 and v14 command
# schemas. hansim is checked against bellows elsewhere (test_hansim_bellows.py); this checks the
# firmware directly, so the two of ours never agree only with each other.
import bellows.types as t
import pytest
import zigpy.types as zt
from bellows.ezsp.v13.commands import COMMANDS as V13
from bellows.ezsp.v14.commands import COMMANDS as V14

from host_tools import upy_shim

upy_shim.install()

from ihd.zigbee import ezsp as E  # noqa: E402 - after the shim

ZCL = bytes.fromhex("18210100000025e8030000000000")  # a Read Attributes Response
EUI = zt.EUI64.convert("00:0d:6f:00:0b:12:34:56")


def _aps(options):
    return t.EmberApsFrame(profileId=0x0109, clusterId=0x0702, sourceEndpoint=1,
                           destinationEndpoint=2, options=t.EmberApsOption(options), groupId=0,
                           sequence=0x37)  # fmt: skip


def _serialize(schema, values):
    return b"".join(typ(values[name]).serialize() for name, typ in schema.items())


class _Ash:
    def __init__(self):
        from ihd.runtime.events import Signal

        self.frames = Signal("ash")
        self.resets = Signal("ash")


def _decoder(version):
    ez = E.Ezsp(_Ash())
    ez.version = version
    ez.v14 = version >= 14
    return ez


@pytest.mark.parametrize("options", [0x0140, 0x0160])  # retry + enable addr disc, + encryption
def test_v14_incoming_message_matches_bellows(options):
    schema = V14["incomingMessageHandler"][2]
    raw = _serialize(schema, {
        "message_type": t.EmberIncomingMessageType.INCOMING_UNICAST, "aps_frame": _aps(options),
        "nwk": 0x1234, "eui64": EUI, "binding_index": 0xFF, "address_index": 3, "lqi": 200,
        "rssi": -57, "timestamp": 0x01020304, "message": ZCL})  # fmt: skip
    m = _decoder(14)._incoming(memoryview(raw), 0)
    assert m is not None
    assert (m.msg_type, m.profile_id, m.cluster_id, m.src_ep, m.dst_ep) == (
        0,
        0x0109,
        0x0702,
        1,
        2,
    )
    assert (m.aps_options, m.secured, m.aps_seq) == (options, bool(options & 0x20), 0x37)
    assert m.sender == 0x1234 and bytes(m.sender_eui64) == EUI.serialize()
    assert (m.binding_index, m.address_index, m.lqi, m.rssi) == (0xFF, 3, 200, -57)
    assert bytes(m.payload) == ZCL


def test_v13_incoming_message_matches_bellows():
    schema = V13["incomingMessageHandler"][2]
    raw = _serialize(schema, {
        "type": t.EmberIncomingMessageType.INCOMING_UNICAST, "apsFrame": _aps(0x0160),
        "lastHopLqi": 180, "lastHopRssi": -70, "sender": 0x2B7A, "bindingIndex": 0xFF,
        "addressIndex": 5, "messageContents": ZCL})  # fmt: skip
    m = _decoder(13)._incoming(memoryview(raw), 0)
    assert m is not None
    assert (m.profile_id, m.cluster_id, m.src_ep, m.dst_ep, m.secured) == (
        0x0109,
        0x0702,
        1,
        2,
        True,
    )
    assert (m.sender, m.sender_eui64, m.lqi, m.rssi) == (0x2B7A, None, 180, -70)
    assert (m.binding_index, m.address_index, bytes(m.payload)) == (0xFF, 5, ZCL)


def test_truncated_by_one_byte_is_refused():
    schema = V14["incomingMessageHandler"][2]
    raw = _serialize(schema, {
        "message_type": 0, "aps_frame": _aps(0x0140), "nwk": 1, "eui64": EUI,
        "binding_index": 0, "address_index": 0, "lqi": 0, "rssi": 0, "timestamp": 0,
        "message": ZCL})  # fmt: skip
    ez = _decoder(14)
    assert ez._incoming(memoryview(raw[:-1]), 0) is None
    assert ez.c.get("truncated") == 1


@pytest.mark.parametrize("version,schema", [(13, V13), (14, V14)])
def test_network_parameters_match_bellows(version, schema):
    # The Status screen's PAN id and channel (ncp.refresh: fields 3 and 5 of the response).
    params = t.EmberNetworkParameters(
        extendedPanId=t.ExtendedPanId.convert("00:0d:6f:ff:fe:12:34:56"), panId=0x1A62,
        radioTxPower=8, radioChannel=19, joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
        nwkManagerId=0x0000, nwkUpdateId=2, channels=t.Channels.CHANNEL_19,
    )  # fmt: skip
    rsp = schema["getNetworkParameters"][2]
    raw = _serialize(rsp, {"status": 0, "nodeType": t.EmberNodeType.END_DEVICE,
                           "parameters": params})  # fmt: skip
    ez = _decoder(version)
    r = ez._decode(ez._layout("getNetworkParameters")[2], memoryview(raw), 0, True)
    assert r is not None and r[0] == E.SUCCESS and r[1] == int(t.EmberNodeType.END_DEVICE)
    assert (r[3], r[4], r[5]) == (0x1A62, 8, 19)
    assert bytes(r[2]) == params.extendedPanId.serialize()


def test_eui64_display_order_matches_zigpy():
    # The Status screen prints an EUI64 from its wire bytes as zigpy (and Wireshark) print it.
    from ihd.ui import fmt

    wire = EUI.serialize()  # little-endian, as EZSP carries it
    assert fmt.hex_eui64(wire) == str(EUI).upper() == "00:0D:6F:00:0B:12:34:56"
