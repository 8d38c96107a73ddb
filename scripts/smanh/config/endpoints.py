"""The survival endpoints a config may name: the built-in ones and those defined by a
mapping (``analysis.endpoints``). Pure vocabulary, no pandas: the Snakefile names one job
per endpoint from it at every start; the analysis dataset (:mod:`smanh.cohort.dataset`)
builds each endpoint's follow-up from it."""

from __future__ import annotations

from dataclasses import dataclass

from smanh.errors import ConfigError

DEATH = "death"  # taken from patients.death_date, not from the events table
# Zero of an endpoint's time scale -> the patients' column holding that date.
TIME_ORIGINS = {"birth": "birth_date", "onset": "onset_date", "diagnosis": "diagnosis_date"}


@dataclass(frozen=True)
class Endpoint:
    """An endpoint: the first of ``events`` ends follow-up; ``population`` restricts
    the analysis to patients with that event (e.g. those who ever walked);
    ``time_origin`` is ``birth``, ``onset`` or ``diagnosis``; the first of ``competing``
    ends follow-up as a competing event."""

    name: str
    events: tuple[str, ...]
    population: str | None = None
    description: str = ""
    time_origin: str = "birth"
    competing: tuple[str, ...] = ()


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint(
            "death_or_permanent_ventilation",
            (DEATH, "permanent_ventilation"),
            description="the earlier of death and the first permanent ventilation",
        ),
        Endpoint("death", (DEATH,), description="death from any cause"),
        Endpoint(
            "permanent_ventilation",
            ("permanent_ventilation",),
            description="first permanent ventilation (death a competing event)",
            competing=(DEATH,),
        ),
        Endpoint(
            "loss_of_independent_sitting",
            ("loss_of_independent_sitting",),
            population="sits_independently",
            description="loss of independent sitting, among patients who sat",
        ),
        Endpoint(
            "loss_of_independent_walking",
            ("loss_of_independent_walking",),
            population="walks_independently",
            description="loss of independent walking, among patients who walked",
        ),
        Endpoint("feeding_tube", ("feeding_tube",), description="first feeding tube"),
        Endpoint(
            "scoliosis_surgery", ("scoliosis_surgery",), description="first scoliosis surgery"
        ),
    )
}

def endpoint(name: "str | dict | Endpoint") -> Endpoint:
    """A built-in endpoint by name, or one defined by a config mapping
    ``{name, events, population, time_origin, competing, description}``; a mapping whose
    name is built in overrides the built-in's fields."""
    if isinstance(name, Endpoint):
        return name
    if isinstance(name, dict):
        return endpoint_from_mapping(name)
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise ConfigError(
            f"analysis.endpoints: unknown endpoint '{name}' (one of: {', '.join(ENDPOINTS)}; "
            "or define it as a mapping with 'name' and 'events')"
        ) from None


def endpoint_from_mapping(spec: dict) -> Endpoint:
    """An :class:`Endpoint` from a config mapping (see :func:`endpoint`)."""
    name = spec.get("name")
    base = ENDPOINTS.get(name)
    if base is None and not spec.get("events"):
        raise ConfigError(
            f"analysis.endpoints: endpoint '{name}' is not built in, so it needs 'events' "
            f"(built in: {', '.join(ENDPOINTS)})"
        )
    events = tuple(spec.get("events") or base.events)
    competing = tuple(spec.get("competing", base.competing if base else ()))
    if set(events) & set(competing):
        raise ConfigError(
            f"analysis.endpoints: endpoint '{name}' lists {sorted(set(events) & set(competing))} "
            "both as event and as competing event"
        )
    origin = spec.get("time_origin", base.time_origin if base else "birth")
    if origin not in TIME_ORIGINS:
        raise ConfigError(
            f"analysis.endpoints: endpoint '{name}' time_origin '{origin}' is not one of: "
            f"{', '.join(TIME_ORIGINS)}"
        )
    default_description = base.description if base and "events" not in spec else (
        f"first of {', '.join(events)}"
        + (f", among patients with {spec['population']}" if spec.get("population") else "")
        + (f" ({', '.join(competing)} competing)" if competing else "")
    )
    return Endpoint(
        name=name,
        events=events,
        population=spec.get("population", base.population if base else None),
        description=spec.get("description", default_description),
        time_origin=origin,
        competing=competing,
    )


def endpoint_names(specs) -> list[str]:
    """Names of the configured endpoints (names or mappings)."""
    return [endpoint(s).name for s in specs]
