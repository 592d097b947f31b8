"""Reading /metrics with prometheus_client's own text parser."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """Samples of one scrape: value(name, **labels) sums the samples whose labels match."""

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == name and _matches(sample_labels, labels)
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {
            sample_labels[label]
            for sample_name, sample_labels, _ in self.samples
            if sample_name == name and label in sample_labels
        }

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}


def _matches(sample_labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(sample_labels.get(key) == value for key, value in wanted.items())
