"""The Operations view: the same figures Prometheus scrapes, on the web page and as JSON.

The figures are read from ``/metrics`` exactly as Prometheus reads them: this process's own
registry (in `pensionx run`, the connectors and sinks count into it) plus every URL in
``app.state.metrics_sources`` (the workers', or ``PENSIONX_METRICS_SOURCES``), added up. A
source that does not answer is listed as such; the rest are still shown. With several
replicas behind one address each read reaches one of them: there, Prometheus is the tool.
"""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from prometheus_client.parser import text_string_to_metric_families

from pensionx.metrics import METRICS, Metrics
from pensionx.web.auth import Permission, api_requires, page_requires
from pensionx.web.tokens import Principal

SCRAPE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Latency:
    """One histogram, summarised: how many, the mean, and quantiles estimated from buckets."""

    count: int
    mean_s: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None


@dataclass
class Figures:
    """Every figure of ``/metrics`` the page shows, summed over the sources."""

    records_in: dict[str, int] = field(default_factory=dict)  # feed
    files_in: dict[tuple[str, str], int] = field(default_factory=dict)  # feed, outcome
    dead_letters: dict[tuple[str, str], int] = field(default_factory=dict)  # feed, code
    events: dict[tuple[str, str], int] = field(default_factory=dict)  # part, topic
    conflicts: dict[tuple[str, str], int] = field(default_factory=dict)  # rule, severity
    prompts: dict[str, int] = field(default_factory=dict)  # kind
    latency: dict[str, Latency] = field(default_factory=dict)  # output
    lag: dict[tuple[str, str, int], int] = field(default_factory=dict)  # group, topic, partition
    sources: dict[str, str] = field(default_factory=dict)  # source -> "ok" or the problem

    def to_json(self) -> dict[str, Any]:
        def rows(table: Mapping[Any, int], *names: str) -> list[dict[str, Any]]:
            out = []
            for key, value in sorted(table.items()):
                keys = key if isinstance(key, tuple) else (key,)
                out.append({**dict(zip(names, keys, strict=True)), "count": value})
            return out

        return {
            "records_in": rows(self.records_in, "feed"),
            "files_in": rows(self.files_in, "feed", "outcome"),
            "dead_letters": rows(self.dead_letters, "feed", "code"),
            "events_processed": rows(self.events, "part", "topic"),
            "conflicts": rows(self.conflicts, "rule", "severity"),
            "prompts": rows(self.prompts, "kind"),
            "latency": {k: vars(v) for k, v in sorted(self.latency.items())},
            "consumer_lag": [
                {"group": g, "topic": t, "partition": p, "lag": n}
                for (g, t, p), n in sorted(self.lag.items())
            ],
            "sources": self.sources,
        }


def figures_from(texts: Iterable[str]) -> Figures:
    """Add up the exchange's figures from Prometheus text expositions."""
    counters: dict[str, defaultdict[tuple[str, ...], float]] = defaultdict(
        lambda: defaultdict(float)
    )
    buckets: defaultdict[str, defaultdict[float, float]] = defaultdict(lambda: defaultdict(float))
    sums: defaultdict[str, float] = defaultdict(float)
    counts: defaultdict[str, float] = defaultdict(float)
    wanted = {
        "pensionx_records_in_total": ("feed",),
        "pensionx_files_in_total": ("feed", "outcome"),
        "pensionx_dead_letters_total": ("feed", "code"),
        "pensionx_events_processed_total": ("part", "topic"),
        "pensionx_conflicts_total": ("rule", "severity"),
        "pensionx_prompts_total": ("kind",),
        "pensionx_consumer_lag": ("group", "topic", "partition"),
    }
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name in wanted:
                    key = tuple(labels.get(name, "") for name in wanted[sample.name])
                    counters[sample.name][key] += sample.value
                elif sample.name == "pensionx_end_to_end_latency_seconds_bucket":
                    buckets[labels["output"]][float(labels["le"])] += sample.value
                elif sample.name == "pensionx_end_to_end_latency_seconds_sum":
                    sums[labels["output"]] += sample.value
                elif sample.name == "pensionx_end_to_end_latency_seconds_count":
                    counts[labels["output"]] += sample.value

    def ints(name: str) -> dict[tuple[str, ...], int]:
        return {k: round(v) for k, v in counters[name].items()}

    figures = Figures(
        records_in={k[0]: v for k, v in ints("pensionx_records_in_total").items()},
        files_in={(k[0], k[1]): v for k, v in ints("pensionx_files_in_total").items()},
        dead_letters={(k[0], k[1]): v for k, v in ints("pensionx_dead_letters_total").items()},
        events={(k[0], k[1]): v for k, v in ints("pensionx_events_processed_total").items()},
        conflicts={(k[0], k[1]): v for k, v in ints("pensionx_conflicts_total").items()},
        prompts={k[0]: v for k, v in ints("pensionx_prompts_total").items()},
        lag={(k[0], k[1], int(k[2] or 0)): v for k, v in ints("pensionx_consumer_lag").items()},
    )
    for output, count in counts.items():
        if count <= 0:
            continue
        cumulative = sorted(buckets[output].items())
        figures.latency[output] = Latency(
            count=round(count),
            mean_s=sums[output] / count,
            p50_s=quantile(0.5, cumulative),
            p95_s=quantile(0.95, cumulative),
            p99_s=quantile(0.99, cumulative),
        )
    return figures


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """Prometheus's ``histogram_quantile``: linear within the bucket the rank falls in; None
    when it falls in the open-ended last bucket (all we know is "more than the last bound")."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return None
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return None


def read_sources(
    urls: Iterable[str], local: Metrics | None = METRICS, timeout: float = SCRAPE_TIMEOUT_S
) -> Figures:
    """This process's figures plus each URL's, and which sources answered."""
    texts: list[str] = []
    status: dict[str, str] = {}
    if local is not None:
        texts.append(local.exposition().decode("utf-8"))
        status["this process"] = "ok"
    for url in urls:
        try:
            # S310: the URLs are http(s) only, checked by the settings.
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                texts.append(response.read().decode("utf-8"))
            status[url] = "ok"
        except (OSError, ValueError) as exc:
            status[url] = f"unreachable: {exc}"
    figures = figures_from(texts)
    figures.sources = status
    return figures


def _figures(request: Request) -> Figures:
    urls: list[str] = list(getattr(request.app.state, "metrics_sources", []) or [])
    return read_sources(urls)


OpsReader = Annotated[Principal, Depends(page_requires(Permission.READ_FEEDS))]
OpsApiReader = Annotated[Principal, Depends(api_requires(Permission.READ_FEEDS))]


def operations_page(request: Request, user: OpsReader) -> HTMLResponse:
    from pensionx.web.pages import render

    return render(request, "operations.html", user=user, nav="ops", figures=_figures(request))


def operations_json(request: Request, _: OpsApiReader) -> dict[str, Any]:
    """The Operations figures as JSON: the same numbers as the page and ``/metrics``."""
    return _figures(request).to_json()


def install(app: FastAPI) -> None:
    app.add_api_route("/operations", operations_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/operations", operations_json, methods=["GET"], tags=["dashboard"])
