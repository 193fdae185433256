# The services take attribute ids (and, for the OTA client's own attributes, the types they
# answer with) from zcl/clusters.py by name. Referee: zigpy's cluster definitions. For every
# single-id row of our Time, OTA (client side) and Metering tables that zigpy also defines, the
# data type must agree; and the attributes the services look up by name must sit at the id
# zigpy gives them (names differ in places, so the id pairs are listed once here).
import zigpy.zcl.clusters.general as zg
import zigpy.zcl.clusters.smartenergy as zse
import zigpy.zcl.foundation as zf

from host_tools import upy_shim

upy_shim.install()

from ihd.zigbee.zcl import clusters as C  # noqa: E402

# Where zigpy and the SE spec disagree, the spec wins (id: (ours, zigpy's)). SE 1.4 Table D-27
# declares the three Formatting attributes and MeteringDeviceType as 8-bit bitmaps; zigpy's
# NumberFormatting class serialises as uint8 and its MeteringDeviceType is an enum8.
_SPEC_OVER_ZIGPY = {0x0303: (0x18, 0x20), 0x0304: (0x18, 0x20), 0x0305: (0x18, 0x20),
                    0x0306: (0x18, 0x30)}  # fmt: skip


def _zigpy_type_id(attr):
    return int(zf.DataType.from_python_type(attr.type).type_id)


def _rows(cluster_id, side):
    tab = C.attrs(cluster_id, side)
    for i in range(0, len(tab), 4):
        if tab[i] == tab[i + 1]:
            yield tab[i], tab[i + 2] & 0xFF, tab[i + 3]


def _check_types(cluster_id, side, zcl_cluster):
    compared, bad = 0, []
    for attr_id, tid, name in _rows(cluster_id, side):
        za = zcl_cluster.attributes.get(attr_id)
        if za is None:
            continue
        compared += 1
        if _zigpy_type_id(za) != tid:
            bad.append((hex(attr_id), name, hex(tid), za.name, hex(_zigpy_type_id(za))))
    return compared, bad


def test_time_table_types_match_zigpy():
    compared, bad = _check_types(C.TIME, C.SERVER, zg.Time)
    assert compared >= 8 and bad == []


def test_ota_client_table_types_match_zigpy():
    compared, bad = _check_types(C.OTA, C.CLIENT, zg.Ota)
    assert compared >= 12 and bad == []


def test_metering_table_types_match_zigpy():
    compared, bad = _check_types(C.METERING, C.SERVER, zse.Metering)
    known = [
        b for b in bad if _SPEC_OVER_ZIGPY.get(int(b[0], 16)) == (int(b[2], 16), int(b[4], 16))
    ]
    assert compared >= 19 and [b for b in bad if b not in known] == []
    assert len(known) == len(_SPEC_OVER_ZIGPY)  # the listed disagreements are still there


def test_names_the_services_use_sit_where_zigpy_puts_them():
    by_name = {
        (C.METERING, C.SERVER): {
            "current_summ_delivered": "current_summ_delivered",
            "current_summ_received": "current_summ_received",  # the export register
            "instantaneous_demand": "instantaneous_demand",
            "unit_of_measure": "unit_of_measure",
            "multiplier": "multiplier",
            "divisor": "divisor",
            "summation_formatting": "summation_formatting",
            "demand_formatting": "demand_formatting",
            "historical_consumption_formatting": "historical_consumption_formatting",
            "ambient_consumption_indicator": "iambient_consumption_indicator",  # zigpy's typo
        },
        (C.TIME, C.SERVER): {"time": "time", "time_status": "time_status"},
        (C.OTA, C.CLIENT): {
            "upgrade_server_id": "upgrade_server_id",
            "file_offset": "file_offset",
            "current_file_version": "current_file_version",
            "image_upgrade_status": "image_upgrade_status",
            "manufacturer_id": "manufacturer_id",
            "image_type_id": "image_type_id",
            "min_block_period_ms": "minimum_block_req_delay",
            "activation_policy": "upgrade_activation_policy",
            "timeout_policy": "upgrade_timeout_policy",
        },
    }
    zclusters = {C.METERING: zse.Metering, C.TIME: zg.Time, C.OTA: zg.Ota}
    for (cid, side), names in by_name.items():
        ours = C.attr_ids(cid, tuple(names), side)
        theirs = tuple(zclusters[cid].attributes_by_name[n].id for n in names.values())
        assert ours == theirs, (hex(cid), ours, theirs)
