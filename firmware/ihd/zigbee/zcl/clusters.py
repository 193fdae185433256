# Declarative ZCL/SE cluster tables + one generic command-payload codec.
# SPDX-License-Identifier: MIT
# Ids/types from docs/zigbee-se.md (sections noted per cluster). Tables are tuples of literal
# constants only (type ids are private const() copies of types.py, checked by a test), so the
# compiler folds them into constant objects: frozen firmware keeps them in flash, not RAM.
#
# Attribute table: flat tuple of rows (lo_id, hi_id, type, name); hi > lo declares a family of
# attributes with one type (name gets "_<id - lo>" appended).
# Command table: tuple of (cmd_id, name, schema). Schema: tuple of fields (name, type) or
# (name, type, ref, mask, want) = present only if (value of field #ref & mask) == want.
# Type flags: _OPT (optional trailing field: absent when the payload ends / omitted when None),
# _LIST (repeat the type until the payload ends -> tuple), _REST (remaining bytes -> bytes).
from ihd.zigbee.zcl import types as T
from ihd.zigbee.zcl.types import DecodeError, EncodeError  # noqa: F401 (re-exported)
from micropython import const

BASIC = const(0x0000)
TIME = const(0x000A)
OTA = const(0x0019)
PRICE = const(0x0700)
METERING = const(0x0702)
MESSAGING = const(0x0703)
PREPAYMENT = const(0x0705)
DEVICE_MGMT = const(0x0708)
KEY_EST = const(0x0800)

# Attribute sides; equal to the direction bit of a frame that carries the values.
CLIENT = const(0)
SERVER = const(1)
C2S = const(0)
S2C = const(1)

# Command ids the IHD/PPMID services use (direction in the name: _REQ/_GET = C->S).
DM_GET_COT = const(0x00)
DM_GET_COS = const(0x01)
DM_PUBLISH_COT = const(0x00)
DM_PUBLISH_COS = const(0x01)
DM_UPDATE_SITE_ID = const(0x03)
DM_UPDATE_CIN = const(0x06)
# Change control bits of a change of tenancy / supplier (SE Table D-164/165: one bitmap for
# ProposedTenancyChangeControl and ProposedProviderChangeControl).
DM_CLEAR_HISTORY = const(0x00000100)  # Clear Historical Load Profile Information
DM_CLEAR_CONSUMER = const(0x00000200)  # Clear IHD Data - Consumer
DM_CLEAR_SUPPLIER = const(0x00000400)  # Clear IHD Data - Supplier
DM_CLEAR_TXLOG = const(0x00002000)  # Clear Transaction Log
DM_CLEAR_PREPAY = const(0x00004000)  # Clear Prepayment Data
PRICE_GET_CURRENT_PRICE = const(0x00)
PRICE_GET_TARIFF_INFO = const(0x06)
PRICE_PUBLISH_PRICE = const(0x00)
PRICE_PUBLISH_TARIFF_INFO = const(0x04)
PRICE_GET_SCHEDULED_PRICES = const(0x01)
PRICE_PUBLISH_BLOCK_PERIOD = const(0x01)
MSG_GET_LAST_MESSAGE = const(0x00)
MSG_CONFIRMATION = const(0x01)
MSG_DISPLAY_MESSAGE = const(0x00)
MSG_CANCEL_MESSAGE = const(0x01)
MSG_DISPLAY_PROTECTED = const(0x02)
MSG_CANCEL_ALL = const(0x03)
PP_SELECT_EMERGENCY_CREDIT = const(0x00)
PP_CONSUMER_TOP_UP = const(0x04)
PP_CONSUMER_TOP_UP_RSP = const(0x03)
MET_GET_PROFILE = const(0x00)
MET_GET_PROFILE_RSP = const(0x00)
OTA_IMAGE_NOTIFY = const(0x00)
OTA_QUERY_NEXT_IMAGE = const(0x01)
OTA_QUERY_NEXT_IMAGE_RSP = const(0x02)
OTA_IMAGE_BLOCK = const(0x03)
OTA_IMAGE_PAGE = const(0x04)
OTA_IMAGE_BLOCK_RSP = const(0x05)
OTA_UPGRADE_END = const(0x06)
OTA_UPGRADE_END_RSP = const(0x07)

# Attribute ids the services use (server side; PP_ATTR_ + the name in the table below).
PP_ATTR_PAYMENT_CONTROL_CONFIGURATION = const(0x0000)
PP_ATTR_CREDIT_REMAINING = const(0x0001)
PP_ATTR_EMERGENCY_CREDIT_REMAINING = const(0x0002)
PP_ATTR_CREDIT_STATUS = const(0x0003)
PP_ATTR_CREDIT_REMAINING_TIMESTAMP = const(0x0004)
PP_ATTR_ACCUMULATED_DEBT = const(0x0005)
PP_ATTR_EMERGENCY_CREDIT_LIMIT = const(0x0010)
PP_ATTR_EMERGENCY_CREDIT_THRESHOLD = const(0x0011)
PP_ATTR_LOW_CREDIT_WARNING_LEVEL = const(0x0031)
PP_ATTR_IHD_LOW_CREDIT_WARNING_LEVEL = const(0x0032)
PP_ATTR_DEBT_LABEL_1 = const(0x0210)  # debt register k (0-2): the _1 id + k * PP_DEBT_STEP
PP_ATTR_DEBT_AMOUNT_1 = const(0x0211)
PP_ATTR_DEBT_RECOVERY_FREQUENCY_1 = const(0x0216)
PP_ATTR_DEBT_RECOVERY_AMOUNT_1 = const(0x0217)
PP_DEBT_STEP = const(0x10)
PP_ATTR_CURRENCY_SCALING_FACTOR = const(0x0502)
PP_ATTR_CURRENCY = const(0x0503)

# Private copies of types.py ids (const-folded into the tables).
_BOOL = const(0x10)
_B8 = const(0x18)
_B16 = const(0x19)
_B32 = const(0x1B)
_U8 = const(0x20)
_U16 = const(0x21)
_U24 = const(0x22)
_U32 = const(0x23)
_U48 = const(0x25)
_I24 = const(0x2A)
_I32 = const(0x2B)
_E8 = const(0x30)
_OSTR = const(0x41)
_CSTR = const(0x42)
_UTC = const(0xE2)
_EUI64 = const(0xF0)
_OPT = const(0x100)
_LIST = const(0x200)
_REST = const(0x400)
_TYPE = const(0xFF)

# ---------------- attributes ----------------

_GLOBAL_ATTRS = (
    0xFFFD, 0xFFFD, _U16, "cluster_revision",
    0xFFFE, 0xFFFE, _E8, "reporting_status",
)  # fmt: skip

_BASIC_SRV = (
    0x0000, 0x0000, _U8, "zcl_version",
    0x0001, 0x0001, _U8, "app_version",
    0x0002, 0x0002, _U8, "stack_version",
    0x0003, 0x0003, _U8, "hw_version",
    0x0004, 0x0004, _CSTR, "manufacturer_name",
    0x0005, 0x0005, _CSTR, "model_id",
    0x0006, 0x0006, _CSTR, "date_code",
    0x0007, 0x0007, _E8, "power_source",
    0x0008, 0x0009, _E8, "generic_device",
    0x000A, 0x000A, _OSTR, "product_code",
    0x000B, 0x000E, _CSTR, "product_info",
    0x0010, 0x0010, _CSTR, "location",
    0x0011, 0x0011, _E8, "physical_env",
    0x0012, 0x0012, _BOOL, "device_enabled",
    0x0013, 0x0014, _B8, "alarm_mask",
    0x4000, 0x4000, _CSTR, "sw_build_id",
)  # fmt: skip

# 7: Time
_TIME_SRV = (
    0x0000, 0x0000, _UTC, "time",
    0x0001, 0x0001, _B8, "time_status",
    0x0002, 0x0002, _I32, "time_zone_s",
    0x0003, 0x0004, _U32, "dst_start_end",
    0x0005, 0x0005, _I32, "dst_shift_s",
    0x0006, 0x0006, _U32, "standard_time",
    0x0007, 0x0007, _U32, "local_time",
    0x0008, 0x0008, _UTC, "last_set_time",
    0x0009, 0x0009, _UTC, "valid_until_time",
)  # fmt: skip

# 9: OTA client attributes (ours; the hub reads them)
_OTA_CLI = (
    0x0000, 0x0000, _EUI64, "upgrade_server_id",
    0x0001, 0x0001, _U32, "file_offset",
    0x0002, 0x0002, _U32, "current_file_version",
    0x0003, 0x0003, _U16, "current_stack_version",
    0x0004, 0x0004, _U32, "downloaded_file_version",
    0x0005, 0x0005, _U16, "downloaded_stack_version",
    0x0006, 0x0006, _E8, "image_upgrade_status",
    0x0007, 0x0007, _U16, "manufacturer_id",
    0x0008, 0x0008, _U16, "image_type_id",
    0x0009, 0x0009, _U16, "min_block_period_ms",
    0x000A, 0x000A, _U32, "image_stamp",
    0x000B, 0x000B, _E8, "activation_policy",
    0x000C, 0x000C, _E8, "timeout_policy",
)  # fmt: skip

# 5: Price
_PRICE_SRV = (
    0x0000, 0x002F, _OSTR, "tier_price_label",
    0x0100, 0x010E, _U48, "block_threshold",
    0x010F, 0x010F, _U8, "block_threshold_count",
    0x0200, 0x0200, _UTC, "start_of_block_period",
    0x0201, 0x0201, _U24, "block_period_duration_min",
    0x0202, 0x0202, _U24, "threshold_multiplier",
    0x0203, 0x0203, _U24, "threshold_divisor",
    0x0204, 0x0204, _B8, "block_period_duration_type",
    0x0300, 0x0300, _E8, "commodity_type",
    0x0301, 0x0301, _U32, "standing_charge",
    0x0302, 0x0302, _U32, "conversion_factor",
    0x0303, 0x0303, _B8, "conversion_factor_trailing_digit",
    0x0304, 0x0304, _U32, "calorific_value",
    0x0305, 0x0305, _E8, "calorific_value_unit",
    0x0306, 0x0306, _B8, "calorific_value_trailing_digit",
    0x0400, 0x040F, _U32, "no_tier_block_price",
    0x0410, 0x04FF, _U32, "tier_block_price",
    0x0610, 0x0610, _OSTR, "tariff_label",
    0x0611, 0x0611, _U8, "price_tiers_in_use",
    0x0612, 0x0612, _U8, "block_thresholds_in_use",
    0x0613, 0x0613, _E8, "tier_block_mode",
    0x0615, 0x0615, _E8, "unit_of_measure",
    0x0616, 0x0616, _U16, "currency",
    0x0617, 0x0617, _B8, "price_trailing_digit",
    0x0619, 0x0619, _E8, "tariff_resolution_period",
    0x0620, 0x0620, _U32, "co2",
    0x0700, 0x0700, _UTC, "current_billing_period_start",
)  # fmt: skip

# 4: Metering
_METERING_SRV = (
    0x0000, 0x0000, _U48, "current_summ_delivered",
    0x0001, 0x0001, _U48, "current_summ_received",
    0x0014, 0x0014, _E8, "supply_status",
    0x0100, 0x015F, _U48, "tier_summ",
    0x0200, 0x0200, _B8, "status",
    0x0207, 0x0207, _E8, "ambient_consumption_indicator",
    0x0300, 0x0300, _E8, "unit_of_measure",
    0x0301, 0x0301, _U24, "multiplier",
    0x0302, 0x0302, _U24, "divisor",
    0x0303, 0x0303, _B8, "summation_formatting",
    0x0304, 0x0304, _B8, "demand_formatting",
    0x0305, 0x0305, _B8, "historical_consumption_formatting",
    0x0306, 0x0306, _B8, "metering_device_type",
    0x0307, 0x0307, _OSTR, "site_id",
    0x0308, 0x0308, _OSTR, "meter_serial_number",
    0x0311, 0x0311, _OSTR, "customer_id_number",
    0x0312, 0x0312, _E8, "alt_unit_of_measure",
    0x0313, 0x0314, _B8, "alt_formatting",
    0x0400, 0x0400, _I24, "instantaneous_demand",
    0x0401, 0x0404, _U24, "day_consumption",
    0x0420, 0x042D, _U24, "previous_days_consumption",
    0x0430, 0x043B, _U24, "week_consumption",
    0x0440, 0x045B, _U32, "month_consumption",
    0x045C, 0x045C, _U16, "historical_freeze_time",
    0x0700, 0x07FF, _U48, "block_summ",
    0x0A00, 0x0A00, _U32, "bill_to_date_delivered",
    0x0A01, 0x0A01, _UTC, "bill_to_date_timestamp",
    0x0A04, 0x0A04, _B8, "bill_delivered_trailing_digit",
    0x0C00, 0x0C00, _I24, "alt_instantaneous_demand",
    0x0C01, 0x0C04, _U24, "alt_day_consumption",
    0x0C20, 0x0C2D, _U24, "alt_previous_days_consumption",
    0x0C30, 0x0C3B, _U24, "alt_week_consumption",
    0x0C40, 0x0C5B, _U32, "alt_month_consumption",
)  # fmt: skip

# 6: Prepayment
_PREPAY_SRV = (
    0x0000, 0x0000, _B16, "payment_control_configuration",
    0x0001, 0x0001, _I32, "credit_remaining",
    0x0002, 0x0002, _I32, "emergency_credit_remaining",
    0x0003, 0x0003, _B8, "credit_status",
    0x0004, 0x0004, _UTC, "credit_remaining_timestamp",
    0x0005, 0x0005, _I32, "accumulated_debt",
    0x0006, 0x0006, _I32, "overall_debt_cap",
    0x0010, 0x0010, _U32, "emergency_credit_limit",
    0x0011, 0x0011, _U32, "emergency_credit_threshold",
    0x0020, 0x0020, _U48, "total_credit_added",
    0x0021, 0x0021, _U32, "max_credit_limit",
    0x0022, 0x0022, _U32, "max_credit_per_top_up",
    0x0030, 0x0030, _U8, "friendly_credit_warning",
    0x0031, 0x0031, _U32, "low_credit_warning_level",
    0x0032, 0x0032, _U32, "ihd_low_credit_warning_level",
    0x0033, 0x0033, _U8, "interrupt_suspend_time",
    0x0040, 0x0040, _I32, "cut_off_value",
    0x0100, 0x0100, _UTC, "top_up_time_1",
    0x0101, 0x0101, _I32, "top_up_amount_1",
    0x0102, 0x0102, _E8, "originating_device_1",
    0x0103, 0x0103, _OSTR, "top_up_code_1",
    0x0110, 0x0110, _UTC, "top_up_time_2",
    0x0111, 0x0111, _I32, "top_up_amount_2",
    0x0112, 0x0112, _E8, "originating_device_2",
    0x0113, 0x0113, _OSTR, "top_up_code_2",
    0x0120, 0x0120, _UTC, "top_up_time_3",
    0x0121, 0x0121, _I32, "top_up_amount_3",
    0x0122, 0x0122, _E8, "originating_device_3",
    0x0123, 0x0123, _OSTR, "top_up_code_3",
    0x0130, 0x0130, _UTC, "top_up_time_4",
    0x0131, 0x0131, _I32, "top_up_amount_4",
    0x0132, 0x0132, _E8, "originating_device_4",
    0x0133, 0x0133, _OSTR, "top_up_code_4",
    0x0140, 0x0140, _UTC, "top_up_time_5",
    0x0141, 0x0141, _I32, "top_up_amount_5",
    0x0142, 0x0142, _E8, "originating_device_5",
    0x0143, 0x0143, _OSTR, "top_up_code_5",
    0x0210, 0x0210, _OSTR, "debt_label_1",
    0x0211, 0x0211, _U32, "debt_amount_1",
    0x0212, 0x0212, _E8, "debt_recovery_method_1",
    0x0213, 0x0213, _UTC, "debt_recovery_start_time_1",
    0x0214, 0x0214, _U16, "debt_recovery_collection_time_1",
    0x0216, 0x0216, _E8, "debt_recovery_frequency_1",
    0x0217, 0x0217, _U32, "debt_recovery_amount_1",
    0x0219, 0x0219, _U16, "debt_recovery_top_up_percentage_1",
    0x0220, 0x0220, _OSTR, "debt_label_2",
    0x0221, 0x0221, _U32, "debt_amount_2",
    0x0222, 0x0222, _E8, "debt_recovery_method_2",
    0x0223, 0x0223, _UTC, "debt_recovery_start_time_2",
    0x0224, 0x0224, _U16, "debt_recovery_collection_time_2",
    0x0226, 0x0226, _E8, "debt_recovery_frequency_2",
    0x0227, 0x0227, _U32, "debt_recovery_amount_2",
    0x0229, 0x0229, _U16, "debt_recovery_top_up_percentage_2",
    0x0230, 0x0230, _OSTR, "debt_label_3",
    0x0231, 0x0231, _U32, "debt_amount_3",
    0x0232, 0x0232, _E8, "debt_recovery_method_3",
    0x0233, 0x0233, _UTC, "debt_recovery_start_time_3",
    0x0234, 0x0234, _U16, "debt_recovery_collection_time_3",
    0x0236, 0x0236, _E8, "debt_recovery_frequency_3",
    0x0237, 0x0237, _U32, "debt_recovery_amount_3",
    0x0239, 0x0239, _U16, "debt_recovery_top_up_percentage_3",
    0x0400, 0x0400, _B16, "prepayment_alarm_status",
    0x0500, 0x0500, _B8, "historical_cost_consumption_formatting",
    0x0502, 0x0502, _E8, "currency_scaling_factor",
    0x0503, 0x0503, _U16, "currency",
    0x051C, 0x052D, _U48, "day_cost_consumption",
    0x0530, 0x053B, _U48, "week_cost_consumption",
    0x0540, 0x055B, _U48, "month_cost_consumption",
    0x055C, 0x055C, _U16, "historical_freeze_time",
)  # fmt: skip

# 2.1 / 2.2: Device Management
_DM_SRV = (
    0x0100, 0x0100, _U32, "provider_id",
    0x0101, 0x0101, _OSTR, "provider_name",
    0x0102, 0x0102, _OSTR, "provider_contact_details",
    0x0110, 0x0110, _U32, "proposed_provider_id",
    0x0111, 0x0111, _OSTR, "proposed_provider_name",
    0x0112, 0x0112, _UTC, "proposed_provider_change_time",
    0x0113, 0x0113, _B32, "proposed_provider_change_control",
    0x0114, 0x0114, _OSTR, "proposed_provider_contact_details",
    0x0120, 0x0120, _U32, "received_provider_id",
    0x0121, 0x0121, _OSTR, "received_provider_name",
    0x0122, 0x0122, _OSTR, "received_provider_contact_details",
    0x0130, 0x0130, _U32, "received_proposed_provider_id",
    0x0131, 0x0131, _OSTR, "received_proposed_provider_name",
    0x0132, 0x0132, _UTC, "received_proposed_provider_change_time",
    0x0133, 0x0133, _B32, "received_proposed_provider_change_control",
    0x0134, 0x0134, _OSTR, "received_proposed_provider_contact_details",
    0x0200, 0x0200, _UTC, "change_of_tenancy_update_time",
    0x0201, 0x0201, _B32, "proposed_tenancy_change_control",
    0x0300, 0x0300, _E8, "wan_status",
    0x0400, 0x0400, _U32, "low_medium_threshold",
    0x0401, 0x0401, _U32, "medium_high_threshold",
)  # fmt: skip

_DM_CLI = (
    0x0000, 0x0000, _U32, "provider_id",
    0x0010, 0x0010, _U32, "received_provider_id",
    0x0100, 0x08FF, _B8, "event_configuration",
)  # fmt: skip

_KE_ATTRS = (0x0000, 0x0000, _B16, "key_establishment_suite")

# ---------------- commands ----------------

_NONE = ()

_BASIC_C2S = ((0x00, "reset_to_factory_defaults", _NONE),)

# 9: OTA Upgrade. Conditions reference field 0 (status or field control).
_QNI_RSP = (
    ("status", _E8),
    ("manufacturer_code", _U16, 0, 0xFF, 0x00),
    ("image_type", _U16, 0, 0xFF, 0x00),
    ("file_version", _U32, 0, 0xFF, 0x00),
    ("image_size", _U32, 0, 0xFF, 0x00),
)
_OTA_C2S = (
    (0x01, "query_next_image", (
        ("field_control", _U8),
        ("manufacturer_code", _U16),
        ("image_type", _U16),
        ("current_file_version", _U32),
        ("hardware_version", _U16, 0, 0x01, 0x01),
    )),
    (0x03, "image_block", (
        ("field_control", _U8),
        ("manufacturer_code", _U16),
        ("image_type", _U16),
        ("file_version", _U32),
        ("file_offset", _U32),
        ("max_data_size", _U8),
        ("request_node_addr", _EUI64, 0, 0x01, 0x01),
        ("min_block_period_ms", _U16, 0, 0x02, 0x02),
    )),
    (0x04, "image_page", (
        ("field_control", _U8),
        ("manufacturer_code", _U16),
        ("image_type", _U16),
        ("file_version", _U32),
        ("file_offset", _U32),
        ("max_data_size", _U8),
        ("page_size", _U16),
        ("response_spacing_ms", _U16),
        ("request_node_addr", _EUI64, 0, 0x01, 0x01),
    )),
    (0x06, "upgrade_end", (
        ("status", _E8),
        ("manufacturer_code", _U16),
        ("image_type", _U16),
        ("file_version", _U32),
    )),
    (0x08, "query_specific_file", (
        ("request_node_addr", _EUI64),
        ("manufacturer_code", _U16),
        ("image_type", _U16),
        ("file_version", _U32),
        ("current_stack_version", _U16),
    )),
)  # fmt: skip
_OTA_S2C = (
    (0x00, "image_notify", (
        ("payload_type", _E8),
        ("query_jitter", _U8),
        ("manufacturer_code", _OPT | _U16),
        ("image_type", _OPT | _U16),
        ("new_file_version", _OPT | _U32),
    )),
    (0x02, "query_next_image_response", _QNI_RSP),
    # SUCCESS: image data; WAIT_FOR_DATA (0x97): retry timing; ABORT (0x95): status only.
    (0x05, "image_block_response", (
        ("status", _E8),
        ("manufacturer_code", _U16, 0, 0xFF, 0x00),
        ("image_type", _U16, 0, 0xFF, 0x00),
        ("file_version", _U32, 0, 0xFF, 0x00),
        ("file_offset", _U32, 0, 0xFF, 0x00),
        ("image_data", _OSTR, 0, 0xFF, 0x00),
        ("current_time", _UTC, 0, 0xFF, 0x97),
        ("request_time", _UTC, 0, 0xFF, 0x97),
        # Absent in the form Silicon Labs' server sends unless built with MIN_BLOCK_REQUEST_SUPPORT
        # (simplicity_sdk ota-server.c: status, CurrentTime 0, RequestTime, then the u16 only
        # under that #if); zigpy 2.4 requires it, so our decoder takes both.
        ("min_block_period_ms", _OPT | _U16, 0, 0xFF, 0x97),
    )),
    (0x07, "upgrade_end_response", (
        ("manufacturer_code", _U16),
        ("image_type", _U16),
        ("file_version", _U32),
        ("current_time", _UTC),
        ("upgrade_time", _UTC),
    )),
    (0x09, "query_specific_file_response", _QNI_RSP),
)  # fmt: skip

# 5: Price
_PRICE_C2S = (
    (0x00, "get_current_price", (("command_options", _B8),)),
    (0x01, "get_scheduled_prices", (("start_time", _UTC), ("number_of_events", _U8))),
    (0x02, "price_acknowledgement", (
        ("provider_id", _U32),
        ("issuer_event_id", _U32),
        ("price_ack_time", _UTC),
        ("control", _B8),
    )),
    (0x06, "get_tariff_information", (
        ("earliest_start_time", _UTC),
        ("min_issuer_event_id", _U32),
        ("number_of_commands", _U8),
        ("tariff_type", _U8),
    )),
    (0x07, "get_price_matrix", (("issuer_tariff_id", _U32),)),
    (0x08, "get_block_thresholds", (("issuer_tariff_id", _U32),)),
)  # fmt: skip
_PRICE_S2C = (
    (0x00, "publish_price", (
        ("provider_id", _U32),
        ("rate_label", _OSTR),
        ("issuer_event_id", _U32),
        ("current_time", _UTC),
        ("unit_of_measure", _E8),
        ("currency", _U16),
        ("trailing_digit_and_tier", _B8),
        ("num_tiers_and_register_tier", _B8),
        ("start_time", _UTC),
        ("duration_min", _U16),
        ("price", _U32),
        ("price_ratio", _OPT | _U8),
        ("generation_price", _OPT | _U32),
        ("generation_price_ratio", _OPT | _U8),
        ("alternate_cost_delivered", _OPT | _U32),
        ("alternate_cost_unit", _OPT | _E8),
        ("alternate_cost_trailing_digit", _OPT | _B8),
        ("number_of_block_thresholds", _OPT | _U8),
        ("price_control", _OPT | _B8),
        ("number_of_generation_tiers", _OPT | _U8),
        ("generation_tier", _OPT | _E8),
        ("extended_number_of_price_tiers", _OPT | _E8),
        ("extended_price_tier", _OPT | _E8),
        ("extended_register_tier", _OPT | _E8),
    )),
    (0x01, "publish_block_period", (
        ("provider_id", _U32),
        ("issuer_event_id", _U32),
        ("block_period_start_time", _UTC),
        ("block_period_duration", _U24),
        ("block_period_control", _B8),
        ("block_period_duration_type", _B8),
        ("tariff_type", _B8),
        ("tariff_resolution_period", _E8),
    )),
    (0x02, "publish_conversion_factor", (
        ("issuer_event_id", _U32),
        ("start_time", _UTC),
        ("conversion_factor", _U32),
        ("trailing_digit", _B8),
    )),
    (0x03, "publish_calorific_value", (
        ("issuer_event_id", _U32),
        ("start_time", _UTC),
        ("calorific_value", _U32),
        ("calorific_value_unit", _E8),
        ("trailing_digit", _B8),
    )),
    (0x04, "publish_tariff_information", (
        ("provider_id", _U32),
        ("issuer_event_id", _U32),
        ("issuer_tariff_id", _U32),
        ("start_time", _UTC),
        ("tariff_type_charging_scheme", _B8),
        ("tariff_label", _OSTR),
        ("number_of_price_tiers_in_use", _U8),
        ("number_of_block_thresholds_in_use", _U8),
        ("unit_of_measure", _E8),
        ("currency", _U16),
        ("price_trailing_digit", _B8),
        ("standing_charge", _U32),
        ("tier_block_mode", _E8),
        ("block_threshold_multiplier", _U24),
        ("block_threshold_divisor", _U24),
    )),
    # Sub-payload {tier/count u8, uint48 * count}* left raw: see iter_records().
    (0x06, "publish_block_thresholds", (
        ("provider_id", _U32),
        ("issuer_event_id", _U32),
        ("start_time", _UTC),
        ("issuer_tariff_id", _U32),
        ("command_index", _U8),
        ("total_commands", _U8),
        ("sub_payload_control", _B8),
        ("payload", _REST),
    )),
)  # fmt: skip

# 4: Metering
_METERING_C2S = (
    (0x00, "get_profile", (
        ("interval_channel", _E8),
        ("end_time", _UTC),
        ("number_of_periods", _U8),
    )),
    (0x03, "request_fast_poll_mode", (("update_period_s", _U8), ("duration_min", _U8))),
    (0x06, "get_snapshot", (
        ("earliest_start_time", _UTC),
        ("latest_end_time", _UTC),
        ("snapshot_offset", _U8),
        ("snapshot_cause", _B32),
    )),
)  # fmt: skip
_METERING_S2C = (
    (0x00, "get_profile_response", (
        ("end_time", _UTC),
        ("status", _E8),
        ("profile_interval_period", _E8),
        ("number_of_periods_delivered", _U8),
        ("intervals", _LIST | _U24),
    )),
    (0x06, "publish_snapshot", (
        ("snapshot_id", _U32),
        ("snapshot_time", _UTC),
        ("total_snapshots_found", _U8),
        ("command_index", _U8),
        ("total_commands", _U8),
        ("snapshot_cause", _B32),
        ("payload_type", _E8),
        ("payload", _REST),
    )),
)  # fmt: skip

# 8: Messaging
_DISPLAY_MESSAGE = (
    ("message_id", _U32),
    ("message_control", _B8),
    ("start_time", _UTC),
    ("duration_min", _U16),
    ("message", _CSTR),
    ("extended_message_control", _OPT | _B8),
)
_MESSAGING_C2S = (
    (0x00, "get_last_message", _NONE),
    (0x01, "message_confirmation", (
        ("message_id", _U32),
        ("confirmation_time", _UTC),
        ("confirmation_control", _OPT | _B8),
        ("response", _OPT | _OSTR),
    )),
    (0x02, "get_message_cancellation", (("earliest_implementation_time", _UTC),)),
)  # fmt: skip
_MESSAGING_S2C = (
    (0x00, "display_message", _DISPLAY_MESSAGE),
    (0x01, "cancel_message", (("message_id", _U32), ("message_control", _B8))),
    (0x02, "display_protected_message", _DISPLAY_MESSAGE),
    (0x03, "cancel_all_messages", (("implementation_time", _UTC),)),
)

# 6: Prepayment
_PREPAY_C2S = (
    (0x00, "select_available_emergency_credit", (
        ("command_issue_time", _UTC),
        ("originating_device", _E8),
    )),
    (0x03, "emergency_credit_setup", (
        ("issuer_event_id", _U32),
        ("start_time", _UTC),
        ("emergency_credit_limit", _U32),
        ("emergency_credit_threshold", _U32),
    )),
    (0x04, "consumer_top_up", (("originating_device", _E8), ("top_up_code", _OSTR))),
    (0x05, "credit_adjustment", (
        ("issuer_event_id", _U32),
        ("start_time", _UTC),
        ("credit_adjustment_type", _E8),
        ("credit_adjustment_value", _U32),
    )),
    (0x06, "change_payment_mode", (
        ("provider_id", _U32),
        ("issuer_event_id", _U32),
        ("implementation_time", _UTC),
        ("proposed_payment_control_configuration", _B16),
        ("cut_off_value", _U32),
    )),
    (0x07, "get_prepay_snapshot", (
        ("earliest_start_time", _UTC),
        ("latest_end_time", _UTC),
        ("snapshot_offset", _U8),
        ("snapshot_cause", _B32),
    )),
    (0x08, "get_top_up_log", (("latest_end_time", _UTC), ("number_of_records", _U8))),
    (0x09, "set_low_credit_warning_level", (("low_credit_warning_level", _U32),)),
    (0x0A, "get_debt_repayment_log", (
        ("latest_end_time", _UTC),
        ("number_of_debts", _U8),
        ("debt_type", _E8),
    )),
)  # fmt: skip
# Record schemas for the _REST payloads of publish_top_up_log / publish_debt_log.
TOP_UP_RECORD = (("top_up_code", _OSTR), ("top_up_amount", _I32), ("top_up_time", _UTC))
DEBT_RECORD = (
    ("collection_time", _UTC),
    ("amount_collected", _U32),
    ("debt_type", _E8),
    ("outstanding_debt", _U32),
)
_PREPAY_S2C = (
    (0x02, "change_payment_mode_response", (
        ("friendly_credit", _B8),
        ("friendly_credit_calendar_id", _U32),
        ("emergency_credit_limit", _U32),
        ("emergency_credit_threshold", _U32),
    )),
    # Value fields uint32 (SiLabs ami.xml, zsmartsystems); Wireshark says int32 (ref 11.4).
    (0x03, "consumer_top_up_response", (
        ("result_type", _E8),
        ("top_up_value", _U32),
        ("source_of_top_up", _E8),
        ("credit_remaining", _U32),
    )),
    (0x05, "publish_top_up_log", (
        ("command_index", _U8),
        ("total_commands", _U8),
        ("records", _REST),
    )),
    (0x06, "publish_debt_log", (
        ("command_index", _U8),
        ("total_commands", _U8),
        ("records", _REST),
    )),
)  # fmt: skip

# 2.3 / 2.4: Device Management
_DM_C2S = (
    (0x00, "get_change_of_tenancy", _NONE),
    (0x01, "get_change_of_supplier", _NONE),
    (0x02, "request_new_password", (("password_type", _E8),)),
    (0x03, "get_site_id", _NONE),
    # {event_id u16, event_configuration bitmap8}* left raw.
    (0x04, "report_event_configuration", (
        ("command_index", _U8),
        ("total_commands", _U8),
        ("events", _REST),
    )),
    (0x05, "get_cin", _NONE),
)  # fmt: skip
_DM_S2C = (
    (0x00, "publish_change_of_tenancy", (
        ("provider_id", _U32),
        ("issuer_event_id", _U32),
        ("tariff_type", _E8),
        ("implementation_time", _UTC),
        ("proposed_tenancy_change_control", _B32),
    )),
    (0x01, "publish_change_of_supplier", (
        ("current_provider_id", _U32),
        ("issuer_event_id", _U32),
        ("tariff_type", _E8),
        ("proposed_provider_id", _U32),
        ("implementation_time", _UTC),
        ("provider_change_control", _B32),
        ("proposed_provider_name", _OSTR),
        ("proposed_provider_contact_details", _OSTR),
    )),
    (0x02, "request_new_password_response", (
        ("issuer_event_id", _U32),
        ("implementation_time", _UTC),
        ("duration_min", _U16),
        ("password_type", _E8),
        ("password", _OSTR),
    )),
    (0x03, "update_site_id", (
        ("issuer_event_id", _U32),
        ("site_id_time", _UTC),
        ("provider_id", _U32),
        ("site_id", _OSTR),
    )),
    # Payload depends on configuration_control (list / group / log type / match): left raw.
    (0x04, "set_event_configuration", (
        ("issuer_event_id", _U32),
        ("start_time", _UTC),
        ("event_configuration", _B8),
        ("configuration_control", _E8),
        ("payload", _REST),
    )),
    (0x05, "get_event_configuration", (("event_id", _U16),)),
    (0x06, "update_cin", (
        ("issuer_event_id", _U32),
        ("implementation_time", _UTC),
        ("provider_id", _U32),
        ("customer_id_number", _OSTR),
    )),
)  # fmt: skip

# Key Establishment (CBKE; usually run by the NCP): identity/ephemeral data/MAC lengths depend
# on the crypto suite, so they are left raw.
_KE_CMDS = (
    (0x00, "initiate_key_establishment", (
        ("key_establishment_suite", _B16),
        ("ephemeral_data_generate_time_s", _U8),
        ("confirm_key_generate_time_s", _U8),
        ("identity", _REST),
    )),
    (0x01, "ephemeral_data", (("ephemeral_data", _REST),)),
    (0x02, "confirm_key_data", (("mac", _REST),)),
    (0x03, "terminate_key_establishment", (
        ("status", _E8),
        ("wait_time_s", _U8),
        ("key_establishment_suite", _B16),
    )),
)  # fmt: skip

# cluster id -> (name, server attrs, client attrs, C->S commands, S->C commands)
_CLUSTERS = {
    BASIC: ("basic", _BASIC_SRV, (), _BASIC_C2S, ()),
    TIME: ("time", _TIME_SRV, (), (), ()),
    OTA: ("ota", (), _OTA_CLI, _OTA_C2S, _OTA_S2C),
    PRICE: ("price", _PRICE_SRV, (), _PRICE_C2S, _PRICE_S2C),
    METERING: ("metering", _METERING_SRV, (), _METERING_C2S, _METERING_S2C),
    MESSAGING: ("messaging", (), (), _MESSAGING_C2S, _MESSAGING_S2C),
    PREPAYMENT: ("prepayment", _PREPAY_SRV, (), _PREPAY_C2S, _PREPAY_S2C),
    DEVICE_MGMT: ("device_management", _DM_SRV, _DM_CLI, _DM_C2S, _DM_S2C),
    KEY_EST: ("key_establishment", _KE_ATTRS, _KE_ATTRS, _KE_CMDS, _KE_CMDS),
}

# ---------------- lookups ----------------


def cluster_name(cluster_id):
    c = _CLUSTERS.get(cluster_id)
    return c[0] if c else "0x%04x" % cluster_id


def _attr_row(cluster_id, attr_id, side):
    c = _CLUSTERS.get(cluster_id)
    tab = _GLOBAL_ATTRS
    if c is not None and attr_id < 0xFFFD:
        tab = c[1] if side == SERVER else c[2]
    for i in range(0, len(tab), 4):
        if tab[i] <= attr_id <= tab[i + 1]:
            return tab, i
    return None, 0


def attr_type(cluster_id, attr_id, side=SERVER):
    # Declared data type id, or None for an attribute not in the tables. Allocates nothing
    # (called per received attribute record, see docs/zigbee.md).
    c = _CLUSTERS.get(cluster_id)
    tab = _GLOBAL_ATTRS
    if c is not None and attr_id < 0xFFFD:
        tab = c[1] if side == SERVER else c[2]
    for i in range(0, len(tab), 4):
        if tab[i] <= attr_id <= tab[i + 1]:
            return tab[i + 2]
    return None


def attr_name(cluster_id, attr_id, side=SERVER):
    tab, i = _attr_row(cluster_id, attr_id, side)
    if not tab:
        return "0x%04x" % attr_id
    if tab[i] == tab[i + 1]:
        return tab[i + 3]
    return "%s_%d" % (tab[i + 3], attr_id - tab[i])


def attr_ids(cluster_id, names, side=SERVER):
    # Attribute names -> their ids, in order: how services name attributes (the tables are the
    # one place ids are written). KeyError for a name the table does not declare.
    # A family member is named as attr_name() names it: "<family>_<n>" = id lo + n.
    tab = attrs(cluster_id, side)
    out = []
    for name in names:
        for i in range(0, len(tab), 4):
            if tab[i] == tab[i + 1]:
                if tab[i + 3] == name:
                    out.append(tab[i])
                    break
                continue
            fam = tab[i + 3]
            n = name[len(fam) + 1 :]
            if name.startswith(fam + "_") and n.isdigit() and tab[i] + int(n) <= tab[i + 1]:
                out.append(tab[i] + int(n))
                break
        else:
            raise KeyError(name)
    return tuple(out)


def attrs(cluster_id, side=SERVER):
    # The flat (lo, hi, type, name) rows, e.g. for discovery.
    c = _CLUSTERS.get(cluster_id)
    if c is None:
        return ()
    return c[1] if side == SERVER else c[2]


def command(cluster_id, direction, cmd_id):
    # -> (cmd_id, name, schema) or None. direction: C2S (server receives) or S2C.
    c = _CLUSTERS.get(cluster_id)
    if c is None:
        return None
    for row in c[4] if direction == S2C else c[3]:
        if row[0] == cmd_id:
            return row
    return None


def command_by_name(cluster_id, direction, name):
    c = _CLUSTERS.get(cluster_id)
    if c is not None:
        for row in c[4] if direction == S2C else c[3]:
            if row[1] == name:
                return row
    return None


# ---------------- generic schema codec ----------------


def _present(schema, f, vals):
    if len(f) < 5:
        return True
    ref = vals.get(schema[f[2]][0])
    return ref is not None and (ref & f[3]) == f[4]


def decode(schema, buf, off=0):
    # -> dict name -> value (None for absent optional/conditional fields). Trailing bytes beyond
    # the schema are ignored (newer spec revisions append fields). Raises DecodeError.
    out = {}
    end = len(buf)
    for f in schema:
        name, t = f[0], f[1]
        if not _present(schema, f, out) or (t & _OPT and off >= end):
            out[name] = None
        elif t & _REST:
            out[name] = bytes(buf[off:end])
            off = end
        elif t & _LIST:
            items = []
            while off < end:
                v, off = T.decode(t & _TYPE, buf, off)
                items.append(v)
            out[name] = tuple(items)
        else:
            out[name], off = T.decode(t & _TYPE, buf, off)
    return out


def encode_into(schema, values, buf, off=0):
    # values: dict (missing/None optional fields end the payload). -> end offset.
    for f in schema:
        name, t = f[0], f[1]
        if not _present(schema, f, values):
            continue
        v = values.get(name)
        if v is None:
            if t & _OPT:
                break
            if t & _TYPE not in (_OSTR, _CSTR) or t & (_REST | _LIST):
                raise EncodeError("missing " + name)
            off = T.encode_into(t & _TYPE, v, buf, off)  # an absent string: the invalid value
            continue
        if t & _REST:
            n = len(v)
            if off + n > len(buf):
                raise EncodeError("buffer too small")
            buf[off : off + n] = v
            off += n
        elif t & _LIST:
            for item in v:
                off = T.encode_into(t & _TYPE, item, buf, off)
        else:
            off = T.encode_into(t & _TYPE, v, buf, off)
    return off


def encode(schema, values, max_len=128):
    # Convenience (allocates): -> bytes.
    b = bytearray(max_len)
    return bytes(b[: encode_into(schema, values, b, 0)])


def iter_records(schema, buf, off=0):
    # Repeats `schema` until the buffer ends (top-up / debt logs etc.).
    end = len(buf)
    while off < end:
        rec = {}
        for f in schema:
            rec[f[0]], off = T.decode(f[1] & _TYPE, buf, off)
        yield rec
