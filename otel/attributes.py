"""OTLP attribute lists as plain Python dicts.

An AnyValue becomes str, bool, int, float, bytes, a list or a dict. A repeated key (invalid
OTLP, but seen in the wild) keeps its last value, as the collector does.
"""

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attribute_dict(value.kvlist_value.values)
    return getattr(value, kind)


def attribute_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attributes}
