"""The canonical registry export, format v1 (README, "Your own export"), as data.

One place says which tables and columns exist, which are required, their types and
vocabularies; the reader and the validation use it, and so do the docs' tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smanh.config.scales import SCALES
from smanh.config.tables import REGISTRY_TABLES

FORMAT_VERSION = 1

SMA_TYPES = ("0", "1", "1a", "1b", "1c", "2", "2a", "2b", "3", "3a", "3b", "4", "unknown")
SEXES = ("M", "F", "U")
EVENTS = (
    "permanent_ventilation",
    "niv_start",
    "tracheostomy",
    "feeding_tube",
    "scoliosis_surgery",
    "loss_of_independent_sitting",
    "loss_of_independent_walking",
    "head_control",
    "sits_independently",
    "stands_independently",
    "walks_independently",
)
TREATMENTS = ("nusinersen", "onasemnogene_abeparvovec", "risdiplam", "other")
# Valid score ranges per scale (inclusive); None = no upper bound.
SCALE_RANGES = {name: scale.valid_range for name, scale in SCALES.items()}
SMN2_COPIES_RANGE = (0, 8)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "string", "date", "integer", "number"
    required: bool = False
    values: tuple[str, ...] | None = None  # vocabulary, for strings
    value_range: tuple[float, float] | None = None  # for numbers


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


PATIENTS = Table(
    "patients",
    (
        Column("patient_id", "string", required=True),
        Column("sex", "string", values=SEXES),
        Column("birth_date", "date", required=True),
        Column("sma_type", "string", required=True, values=SMA_TYPES),
        Column("smn2_copies", "integer", value_range=SMN2_COPIES_RANGE),
        Column("onset_date", "date"),
        Column("diagnosis_date", "date"),
        Column("enrolment_date", "date", required=True),
        Column("last_contact_date", "date", required=True),
        Column("death_date", "date"),
        Column("site", "string"),
    ),
)
EVENTS_TABLE = Table(
    "events",
    (
        Column("patient_id", "string", required=True),
        Column("event", "string", required=True, values=EVENTS),
        Column("date", "date", required=True),
    ),
)
TREATMENTS_TABLE = Table(
    "treatments",
    (
        Column("patient_id", "string", required=True),
        Column("treatment", "string", required=True, values=TREATMENTS),
        Column("start_date", "date", required=True),
        Column("end_date", "date"),
    ),
)
ASSESSMENTS = Table(
    "assessments",
    (
        Column("patient_id", "string", required=True),
        Column("date", "date", required=True),
        Column("scale", "string", required=True, values=tuple(SCALE_RANGES)),
        Column("score", "number", required=True),
    ),
)

_BY_NAME = {t.name: t for t in (PATIENTS, EVENTS_TABLE, TREATMENTS_TABLE, ASSESSMENTS)}
TABLES: dict[str, Table] = {name: _BY_NAME[name] for name in REGISTRY_TABLES}
# Tables that must be present in every export; the others may be absent (= no rows).
REQUIRED_TABLES = ("patients",)
# Tables of rows that belong to a patient of the patients table.
CHILD_TABLES = tuple(name for name in TABLES if name != "patients")
