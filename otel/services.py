"""OTLP spans in, events stored: through the same ingestion service as POST /v1/events/batch.

So a span-made event gets exactly the batch endpoint's validation, pricing, idempotency
(`event_id` from the trace and span ids) and rollup scheduling.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ingestion.services import events_ingest
from metrics.hooks import otel_spans_counted
from otel.attributes import attribute_dict
from otel.mapping import SpanEvent, SpanMappingError, is_genai_span, span_event, span_ref


@dataclass
class SpansIngestResult:
    events: int = 0  # GenAI spans stored as events, new or duplicate
    duplicates: int = 0
    ignored: int = 0  # spans that are not GenAI calls
    rejections: list[str] = field(default_factory=list)  # one line per rejected span

    @property
    def rejected(self) -> int:
        return len(self.rejections)


def _genai_spans(
    request: ExportTraceServiceRequest, result: SpansIngestResult
) -> Iterator[SpanEvent]:
    for resource_spans in request.resource_spans:
        resource_attributes = attribute_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = resource_attributes | attribute_dict(span.attributes)
                if not is_genai_span(attributes):
                    result.ignored += 1
                    continue
                try:
                    yield span_event(span, attributes)
                except SpanMappingError as exc:
                    result.rejections.append(f"span {span_ref(span)}: {exc}")


def _rejection(event: SpanEvent, errors: dict[str, list[str]]) -> str:
    """The event rules' errors, each named by the attribute the value came from."""
    reasons = "; ".join(
        f"{event.sources.get(name, name)}: {', '.join(messages)}"
        for name, messages in errors.items()
    )
    return f"span {event.ref}: {reasons}"


def spans_ingest(*, organization_id: int, request: ExportTraceServiceRequest) -> SpansIngestResult:
    """Map every GenAI span to an event and store the valid ones; the rest are counted."""
    result = SpansIngestResult()
    events = list(_genai_spans(request, result))
    # In batches of the batch endpoint's size: each a transaction of bounded size. A retry
    # after a failure part-way re-sends them all, and the stored ones come back as duplicates.
    size = settings.MAX_BATCH_EVENTS
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        outcome = events_ingest(organization_id=organization_id, items=[e.item for e in chunk])
        result.events += outcome.accepted
        result.duplicates += outcome.duplicates
        result.rejections.extend(
            _rejection(chunk[error["index"]], error["errors"]) for error in outcome.errors
        )
    otel_spans_counted(
        organization_id=organization_id,
        events=result.events,
        ignored=result.ignored,
        rejected=result.rejected,
    )
    return result
