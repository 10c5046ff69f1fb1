"""The EPCIS Event Hash ID (CBV 2.0): published vectors of the GS1 reference implementation, and its properties.

Vectors: the reference implementation https://github.com/RalphTro/epcis-event-hash-generator, its example
documents `tests/examples/documents/*.json[ld]` (the one event of each, below) and their expected values in
`tests/examples/expected/CBV2.0/*.hashes` and `*.prehashes` (also the worked examples of its README).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from epcis.eventhash import event_hash_id, pre_hash_string

# tests/examples/documents/ReferenceEventHashAlgorithm.jsonld: ObjectEvent with event-level user extensions.
REFERENCE_1: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2020-03-04T11:00:30.000+01:00",
    "eventTimeZoneOffset": "+01:00",
    "recordTime": "2020-03-04T11:00:30.999+01:00",
    "epcList": [
        "urn:epc:id:sscc:4012345.0000000333",
        "urn:epc:id:sscc:4012345.0000000111",
        "urn:epc:id:sscc:4012345.0000000222",
    ],
    "action": "OBSERVE",
    "bizStep": "departing",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.987"},
    "example:myField1": {"example:mySubField1": "2", "example:mySubField2": "5"},
    "example:myField2": "0",
    "example:myField3": {"example:mySubField3": ["3", "1"]},
}
REFERENCE_1_CONTEXT = {"example": "https://ns.example.com/epcis/"}
REFERENCE_1_PRE_HASH = (
    "eventType=ObjectEvent"
    "eventTime=2020-03-04T10:00:30.000Z"
    "eventTimeZoneOffset=+01:00"
    "epcList"
    "epc=https://id.gs1.org/00/040123450000001112"
    "epc=https://id.gs1.org/00/040123450000002225"
    "epc=https://id.gs1.org/00/040123450000003338"
    "action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-departing"
    "readPoint"
    "id=https://id.gs1.org/414/4012345000115/254/987"
    "{https://ns.example.com/epcis/}myField1"
    "{https://ns.example.com/epcis/}mySubField1=2"
    "{https://ns.example.com/epcis/}mySubField2=5"
    "{https://ns.example.com/epcis/}myField2=0"
    "{https://ns.example.com/epcis/}myField3"
    "{https://ns.example.com/epcis/}mySubField3=1"
    "{https://ns.example.com/epcis/}mySubField3=3"
)

# tests/examples/documents/ReferenceEventHashAlgorithm2.jsonld: ObjectEvent with sensor data.
REFERENCE_2: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2020-04-01T15:00:00+01:00",
    "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
    "action": "OBSERVE",
    "bizStep": "inspecting",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00005.0"},
    "sensorElementList": [
        {
            "sensorMetadata": {
                "deviceID": "urn:epc:id:giai:4000001.111",
                "deviceMetadata": "https://id.gs1.org/8004/4000001111",
            },
            "sensorReport": [
                {"type": "Temperature", "value": 26, "sDev": 0.1, "uom": "CEL"},
                {"type": "AbsoluteHumidity", "value": 12.1, "uom": "A93"},
                {
                    "type": "Dimensionless",
                    "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                    "value": 0.05,
                    "uom": "C35",
                },
                {
                    "type": "Dimensionless",
                    "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                    "value": 0.18,
                    "uom": "C35",
                },
            ],
        }
    ],
}

# tests/examples/documents/ReferenceEventHashAlgorithm3.jsonld: business transactions, source and destination,
# and an extension inside readPoint (CBV 2.0 puts it in a trailing readPoint block).
REFERENCE_3: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2020-03-04T11:00:30+01:00",
    "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:0614141.011111.987"],
    "action": "OBSERVE",
    "bizStep": "departing",
    "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.0", "example:myField1": "AB-12"},
    "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:4012345.11111.123"}],
    "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000"}],
    "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}],
    "example:userExt": "CD-34",
}
REFERENCE_3_PRE_HASH = (
    "eventType=ObjectEvent"
    "eventTime=2020-03-04T10:00:30.000Z"
    "eventTimeZoneOffset=+01:00"
    "epcList"
    "epc=https://id.gs1.org/01/00614141111114/21/987"
    "action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-departing"
    "disposition=https://ref.gs1.org/cbv/Disp-in_transit"
    "readPoint"
    "id=https://id.gs1.org/414/4012345000115"
    "bizTransactionList"
    "type=https://ref.gs1.org/cbv/BTT-po"
    "bizTransaction=https://id.gs1.org/253/4012345111118123"
    "sourceList"
    "type=https://ref.gs1.org/cbv/SDT-owning_party"
    "source=https://id.gs1.org/417/4012345000009"
    "destinationList"
    "type=https://ref.gs1.org/cbv/SDT-owning_party"
    "destination=https://id.gs1.org/417/0614141000005"
    "readPoint"
    "{https://ns.example.com/epcis/}myField1=AB-12"
    "{https://ns.example.com/epcis/}userExt=CD-34"
)

_EXT_ARRAY: list[Any] = [
    "12",
    "22",
    "2013-06-08T14:58:56.591Z",
    "true",
    "stringInArray",
    {
        "ext1:object": {
            "ext1:object": {
                "ext2:array": ["14", "23.0", "stringInArrayInObjectInArray"],
                "ext2:object": {"ext2:object": {"ext3:string": "stringInObjectInObjectInArray"}},
                "ext2:int": "13",
                "ext2:string": "stringInObjectInArray",
            }
        }
    },
]
_EXT_FIELDS: dict[str, Any] = {
    "ext1:float": "20",
    "ext1:time": "2013-06-08T14:58:56.591Z",
    "ext1:array": _EXT_ARRAY,
    "ext1:boolean": "true",
    "ext1:object": {
        "ext2:array": ["11", "21", "stringInArrayInObject"],
        "ext2:object": {"ext2:object": {"ext3:string": "stringInObjectInObject"}},
        "ext2:string": "stringInObject",
    },
    "ext1:default": "stringAsDefaultValue",
    "ext1:int": "10",
    "ext1:string": "string",
}

# tests/examples/documents/AggregationEvent_all_possible_fields.json: every field, nested extensions everywhere,
# certificationInfo and errorDeclaration (both left out of the hash).
AGGREGATION: dict[str, Any] = {
    "type": "AggregationEvent",
    "eventTime": "2013-06-08T14:58:56.591Z",
    "eventTimeZoneOffset": "+02:00",
    "eventID": "ni:///sha-256;cd834b5a08e76778617369c29c9ecc1007508a0ae5dcf063e48b6bf05eb10097?ver=CBV2.0",
    "certificationInfo": "https://accreditation-council.example.org/certificate/ABC12345",
    "errorDeclaration": {
        "declarationTime": "2013-11-07T14:00:00.000+01:00",
        "reason": "incorrect_data",
        "correctiveEventIDs": [
            "ni:///sha-256;fec9667280c4710a3fa9558b7bc8ddc2ced0dc442d87f82becae24bb6ca6a46f?ver=CBV2.0"
        ],
    },
    "parentID": "urn:epc:id:sscc:0614141.1234567890",
    "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
    "action": "OBSERVE",
    "bizStep": "receiving",
    "disposition": "in_progress",
    "readPoint": {"id": "urn:epc:id:sgln:0037000.00729.8202"},
    "bizLocation": {"id": "urn:epc:id:sgln:0037000.00729.8202"},
    "bizTransactionList": [
        {"type": "po", "bizTransaction": "urn:epc:id:gdti:0614141.00001.1618034"},
        {"type": "pedigree", "bizTransaction": "urn:epc:id:gsrn:0614141.0000010253"},
    ],
    "childQuantityList": [
        {"epcClass": "urn:epc:idpat:sgtin:4012345.098765.*", "quantity": 10},
        {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200.5, "uom": "KGM"},
    ],
    "sourceList": [
        {"type": "location", "source": "urn:epc:id:sgln:4012345.00225.0"},
        {"type": "possessing_party", "source": "urn:epc:id:pgln:4012345.00225"},
        {"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00225"},
    ],
    "destinationList": [
        {"type": "location", "destination": "urn:epc:id:sgln:0614141.00777.0"},
        {"type": "possessing_party", "destination": "urn:epc:id:pgln:0614141.00777"},
        {"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00777"},
    ],
    "sensorElementList": [
        {
            "sensorMetadata": {
                "time": "2019-04-02T13:05:00.000Z",
                "deviceID": "urn:epc:id:giai:4000001.111",
                "deviceMetadata": "https://id.gs1.org/8004/4000001111",
                "rawData": "https://example.org/8004/401234599999",
                "startTime": "2019-04-02T12:55:01.000Z",
                "endTime": "2019-04-02T13:55:00.000Z",
                "dataProcessingMethod": "https://example.com/253/4012345000054987",
                "bizRules": "https://example.com/253/4012345000054987",
                "ext1:someFurtherMetadata": "someText",
            },
            "sensorReport": [
                {
                    "type": "Temperature",
                    "deviceID": "urn:epc:id:giai:4000001.111",
                    "rawData": "https://example.org/8004/401234599999",
                    "dataProcessingMethod": "https://example.com/253/4012345000054987",
                    "time": "2019-07-19T13:00:00.000Z",
                    "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                    "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                    "value": 26,
                    "component": "example:x",
                    "stringValue": "SomeString",
                    "booleanValue": True,
                    "hexBinaryValue": "f0f0f0",
                    "uriValue": "https://id.gs1.org/8004/4000001111",
                    "minValue": 26,
                    "maxValue": 26.2,
                    "meanValue": 13.2,
                    "percRank": 50,
                    "percValue": 12.7,
                    "uom": "CEL",
                    "sDev": 0.1,
                    "ext1:someFurtherReportData": "someText",
                    "deviceMetadata": "https://id.gs1.org/8004/4000001111",
                }
            ],
            **copy.deepcopy(_EXT_FIELDS),
        }
    ],
    **copy.deepcopy(_EXT_FIELDS),
}
AGGREGATION_CONTEXT = {
    "ext1": "http://example.com/ext1/",
    "ext2": "http://example.com/ext2/",
    "ext3": "http://example.com/ext3/",
}

# tests/examples/documents/TransformationEventWithUserExtensions.json: ILMD (with cbvmda), extensions in readPoint,
# bizLocation, sensorMetadata, sensorReport and sensorElement, un-prefixed nested keys, an errorDeclaration.
TRANSFORMATION: dict[str, Any] = {
    "type": "TransformationEvent",
    "eventTime": "2020-09-29T14:00:00+02:00",
    "eventTimeZoneOffset": "+02:00",
    "errorDeclaration": {
        "declarationTime": "2020-09-29T15:00:00+02:00",
        "example:issuer": "Employee 123",
        "example3:errorCodes": {"example3:value1": "34", "example3:value44": "66"},
        "example:field": {"example:furtherData": "abcd1234"},
    },
    "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:4023333.055555.ABC123", "quantity": 25.0, "uom": "KGM"}],
    "outputEPCList": ["urn:epc:id:sgtin:4012345.012345.987", "urn:epc:id:sgtin:4012345.012345.988"],
    "bizStep": "commissioning",
    "readPoint": {"id": "urn:epc:id:sgln:4023333.00000.0", "example:gs1ES": "(414)4023333000000"},
    "bizLocation": {"id": "urn:epc:id:sgln:4023333.00001.12", "example:gs1ES": "(414)4023333000017 (254)12"},
    "ilmd": {
        "cbvmda:lotNumber": "LOTABC",
        "example:grading": "A",
        "example2:userMasterData": {"example2:sizeCode": "B-2"},
    },
    "sensorElementList": [
        {
            "sensorMetadata": {
                "startTime": "2019-04-01T15:00:00+01:00",
                "endTime": "2019-04-02T14:59:59.999+01:00",
                "example:someFurtherMetaData": "someText",
            },
            "sensorReport": [
                {
                    "type": "Temperature",
                    "minValue": 12.4,
                    "maxValue": 13.8,
                    "meanValue": 13.2,
                    "percRank": 50.0,
                    "percValue": 12.7,
                    "uom": "CEL",
                    "sDev": 0.41,
                    "example:cv": "123",
                },
                {"type": "example:someSensorProperty", "stringValue": "someSensorOutput"},
            ],
            "example:furtherSensorData": {"example:measure1": "123.5", "example:measure2": "0.987"},
            "example:someUserField": "abc123",
        }
    ],
    "example:extension": {"moreExtensions": {"futureExtension": {"tag1": "1", "tag2": "2", "tag3": "3"}}},
    "example:internalData": {"example:machine": "urn:epc:id:giai:4012345.ABC", "example:procedure": "A-1"},
    "example2:furtherData": {"example2:assemblyLine": "2", "example2:workingShift": "1"},
    "example4:otherThings": "some text",
}
TRANSFORMATION_CONTEXT = {
    "example": "http://ns.example.com/epcis/",
    "example2": "http://ns.example.com/epcis-2/",
    "example3": "http://ns.example.com/epcis-3/",
    "example4": "http://ns.example.com/epcis-4/",
}

PUBLISHED = [
    pytest.param(
        REFERENCE_1,
        REFERENCE_1_CONTEXT,
        "ni:///sha-256;6ae96341e0acc6d7a261364751f60e68278a81cdf51da0abb6b4e617014e39d7?ver=CBV2.0",
        id="ReferenceEventHashAlgorithm",
    ),
    pytest.param(
        REFERENCE_2,
        None,
        "ni:///sha-256;271565c346ae2fb28c4583c4dca4ab4772d465eb4e0b6e548d77d8b49377d95c?ver=CBV2.0",
        id="ReferenceEventHashAlgorithm2",
    ),
    pytest.param(
        REFERENCE_3,
        REFERENCE_1_CONTEXT,
        "ni:///sha-256;3ae14c02c4bdc220cc31942cf804f6845eb8dec96ba6483391c92a9b165f9329?ver=CBV2.0",
        id="ReferenceEventHashAlgorithm3",
    ),
    pytest.param(
        AGGREGATION,
        AGGREGATION_CONTEXT,
        "ni:///sha-256;41cf5d2be6b6926acc531597e43932eb4b9b23926ccb6ce08c882bda7a74d1a8?ver=CBV2.0",
        id="AggregationEvent_all_possible_fields",
    ),
    pytest.param(
        TRANSFORMATION,
        TRANSFORMATION_CONTEXT,
        "ni:///sha-256;dca180f4e6005d4b6a6408a8d143977ca2e4f3e72048d7aa03b4df4055d484f9?ver=CBV2.0",
        id="TransformationEventWithUserExtensions",
    ),
]


@pytest.mark.parametrize(("event", "context", "expected"), PUBLISHED)
def test_published_hash_ids(event: dict[str, Any], context: dict[str, str] | None, expected: str) -> None:
    assert event_hash_id(event, context) == expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(REFERENCE_1, REFERENCE_1_PRE_HASH, id="ReferenceEventHashAlgorithm"),
        pytest.param(REFERENCE_3, REFERENCE_3_PRE_HASH, id="ReferenceEventHashAlgorithm3"),
    ],
)
def test_published_pre_hash_strings(event: dict[str, Any], expected: str) -> None:
    assert pre_hash_string(event, REFERENCE_1_CONTEXT) == expected
    digest = hashlib.sha256(expected.encode()).hexdigest()
    assert event_hash_id(event, REFERENCE_1_CONTEXT) == f"ni:///sha-256;{digest}?ver=CBV2.0"


def test_the_event_context_supplies_prefixes() -> None:
    event = {"@context": [REFERENCE_1_CONTEXT], **REFERENCE_1}
    assert pre_hash_string(event) == REFERENCE_1_PRE_HASH


# --- properties ---


def _reordered(value: Any) -> Any:
    """The same JSON with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(item) for item in value]
    return value


@pytest.mark.parametrize(("event", "context", "expected"), PUBLISHED)
def test_independent_of_key_order(event: dict[str, Any], context: dict[str, str] | None, expected: str) -> None:
    assert event_hash_id(_reordered(event), context) == expected


def test_independent_of_list_order() -> None:
    event = copy.deepcopy(TRANSFORMATION)
    event["outputEPCList"].reverse()
    event["sensorElementList"][0]["sensorReport"].reverse()
    reference = copy.deepcopy(REFERENCE_1)
    reference["epcList"] = [reference["epcList"][i] for i in (1, 2, 0)]
    assert event_hash_id(event, TRANSFORMATION_CONTEXT) == event_hash_id(TRANSFORMATION, TRANSFORMATION_CONTEXT)
    assert event_hash_id(reference, REFERENCE_1_CONTEXT) == event_hash_id(REFERENCE_1, REFERENCE_1_CONTEXT)


@pytest.mark.parametrize(
    "written",
    ["2020-03-04T10:00:30Z", "2020-03-04T10:00:30.000Z", "2020-03-04T17:00:30+07:00", "2020-03-04T05:30:30.0-04:30"],
)
def test_independent_of_the_offset_an_instant_is_written_with(written: str) -> None:
    event = {**REFERENCE_1, "eventTime": written}
    assert event_hash_id(event, REFERENCE_1_CONTEXT) == PUBLISHED[0].values[2]


def test_event_id_and_record_time_do_not_count() -> None:
    bare = {k: v for k, v in REFERENCE_1.items() if k != "recordTime"}
    other = {**REFERENCE_1, "recordTime": "2030-01-01T00:00:00Z", "eventID": "urn:uuid:1"}
    assert event_hash_id(bare, REFERENCE_1_CONTEXT) == event_hash_id(other, REFERENCE_1_CONTEXT)
    assert event_hash_id(other, REFERENCE_1_CONTEXT) == PUBLISHED[0].values[2]


def test_a_changed_field_changes_the_hash() -> None:
    base = event_hash_id(REFERENCE_1, REFERENCE_1_CONTEXT)
    assert event_hash_id({**REFERENCE_1, "bizStep": "receiving"}, REFERENCE_1_CONTEXT) != base
    assert event_hash_id({**REFERENCE_1, "eventTime": "2020-03-04T11:00:30.001+01:00"}, REFERENCE_1_CONTEXT) != base
    assert event_hash_id({**REFERENCE_1, "example:myField2": "1"}, REFERENCE_1_CONTEXT) != base
    assert event_hash_id({**REFERENCE_1, "disposition": "active"}, REFERENCE_1_CONTEXT) != base


def test_vocabulary_written_as_urn_curie_or_bare_word_is_one_value() -> None:
    written = ["receiving", "urn:epcglobal:cbv:bizstep:receiving", "cbv:BizStep-receiving"]
    strings = {pre_hash_string({**REFERENCE_1, "bizStep": b}, REFERENCE_1_CONTEXT) for b in written}
    assert len(strings) == 1
    assert "bizStep=https://ref.gs1.org/cbv/BizStep-receiving" in strings.pop()


def test_digital_links_take_the_constrained_canonical_form() -> None:
    forms = [
        "urn:epc:id:sgtin:4012345.011111.9876",
        "https://id.gs1.org/01/04012345111118/21/9876",
        "https://example.com/01/4012345111118/21/9876?s=abc",
        "https://example.com/shop/01/04012345111118/10/LOT1/21/9876",
    ]
    strings = {pre_hash_string({**REFERENCE_2, "epcList": [f]}) for f in forms}
    assert strings == {pre_hash_string(REFERENCE_2)}


def test_time_rounds_to_the_millisecond_half_up() -> None:
    event = {**REFERENCE_1, "eventTime": "2023-01-18T11:04:03.1415Z"}
    assert "eventTime=2023-01-18T11:04:03.142Z" in pre_hash_string(event, REFERENCE_1_CONTEXT)


def test_an_event_without_type_is_refused() -> None:
    with pytest.raises(ValueError, match="type"):
        pre_hash_string({"eventTime": "2020-03-04T10:00:30Z"})
