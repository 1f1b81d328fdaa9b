"""Audience profiles: the rule set each audience's outputs are made with.

Three audiences read realimpact's outputs (docs/sharing.md):

* ``analyst``: the full picture inside the force; nothing is suppressed.
* ``partner``: community safety partnerships and others under an information
  sharing agreement; counts 1-4 suppressed (with whatever would give them
  back), no points, ids or names of people.
* ``public``: anyone; counts 1-9 suppressed, published counts rounded to the
  nearest 5, nothing finer than LSOA and month, no free text.

A :class:`Profile` is plain data, so every analysis (harm index, hot spots,
markets, evaluation) and the report read the same rules; the rules are
applied by :mod:`realimpact.disclosure.suppress` and friends, never by an
analysis of its own. A sharing config (YAML, read with the project's safe
loader) may raise or lower a threshold within bounds and carries the fields
of the information sharing agreement that end up in ``manifest.json``::

    profiles:
      partner: {threshold: 10}
      public:
        threshold: 10
        rounding: 5
        perturbation: {max: 2, key: "a secret kept by the analyst"}
    sharing:
      agreement: ISA-2024-017
      lawful_basis: "Crime and Disorder Act 1998 s.115"
      security_marking: OFFICIAL
      review_date: 2026-03-31
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realimpact.errors import ValidationError

AUDIENCES = ("analyst", "partner", "public")

#: keys whose values identify a record, a person or a file: never in a shared output
IDENTIFYING_KEYS = frozenset(
    {
        "points",
        "markets",
        "targets",
        "respondent_id",
        "respondent_ids",
        "names",
        "persons",
        "people",
        "groups",
        "truth",
        "crime_id",
        "crime_ids",
        "pseudonym",
        "pseudonyms",
        "person_id",
        "file",
        "files",
        "path",
        "paths",
        "source_file",
        "line",
        "lines",
    }
)
#: user-written free text (a plan's mechanisms, mitigations ...): not for the public
FREE_TEXT_KEYS = frozenset(
    {"mechanism", "mitigation", "expected", "description", "comment", "comments", "notes_free"}
)
#: area layers from the finest; a profile's ``finest_layer`` forbids anything before it
LAYER_ORDER = ("point", "grid250", "oa", "lsoa", "msoa", "ward", "beat", "la", "force")
PERIOD_ORDER = ("day", "week", "month", "quarter", "year")

SHARING_FIELDS = ("agreement", "lawful_basis", "security_marking", "review_date")


@dataclass(frozen=True)
class Perturbation:
    """Cell-key perturbation: add a noise in ``-max..max`` fixed by a keyed hash of the cell.

    The key is the analyst's secret: with it the same cell gets the same noise
    in every release, so a partner who asks for the same table twice cannot
    average the noise away; without it nobody can take the noise off.
    """

    max: int
    key: str


@dataclass(frozen=True)
class Sharing:
    """The information sharing fields an analyst fills in (blank until they do)."""

    agreement: str = ""
    lawful_basis: str = ""
    security_marking: str = ""
    review_date: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Profile:
    """What an audience may see.

    ``threshold``: counts ``0 < n < threshold`` are suppressed (0 = nothing
    suppressed). ``drop_keys``: fields removed wherever they appear.
    ``finest_layer``/``finest_period``: the finest area layer and period an
    output may be published at (None = any). ``rounding``: published counts
    are rounded to this base (1 = exact). ``perturbation``: optional cell-key
    noise. ``harm_rounding``: harm figures are rounded to this many days (0 =
    exact), so a harm value cannot be split back into per-type counts with
    the public weights. ``dominance_share``: a harm total in which one record
    (or one crime type with fewer than ``threshold`` records) makes up more
    than this share is suppressed (:mod:`realimpact.disclosure.dominance`).
    ``derived_digits``: estimates, intervals and ratios are rounded to this
    many decimals (None = exact), so they cannot be solved back to counts.
    """

    name: str
    threshold: int
    drop_keys: frozenset[str] = IDENTIFYING_KEYS
    finest_layer: str | None = None
    finest_period: str | None = None
    rounding: int = 1
    perturbation: Perturbation | None = None
    harm_rounding: float = 0.0
    dominance_share: float = 1.0
    derived_digits: int | None = None
    sharing: Sharing = field(default_factory=Sharing)

    @property
    def suppresses(self) -> bool:
        return self.threshold > 0

    def is_small(self, value: Any) -> bool:
        """True for a count this profile must not show (0 < value < threshold)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if value != value or value in (float("inf"), float("-inf")):
            return False
        return 0 < value < self.threshold

    def layer_allowed(self, layer: str) -> bool:
        """False for an area layer finer than the profile allows (unknown layers pass)."""
        if self.finest_layer is None or layer not in LAYER_ORDER:
            return True
        return LAYER_ORDER.index(layer) >= LAYER_ORDER.index(self.finest_layer)

    def rules(self) -> dict[str, Any]:
        """The rules in plain data, for the manifest (the perturbation key is never written)."""
        return {
            "threshold": self.threshold,
            "dropped_fields": sorted(self.drop_keys),
            "finest_layer": self.finest_layer,
            "finest_period": self.finest_period,
            "rounding": self.rounding,
            "perturbation": (
                {
                    "method": "cell key (HMAC-SHA256 of the cell's identity)",
                    "max": self.perturbation.max,
                }
                if self.perturbation
                else None
            ),
            "harm_rounding": self.harm_rounding,
            "dominance_share": self.dominance_share,
            "derived_digits": self.derived_digits,
            "secondary_suppression": self.suppresses,
        }


DEFAULTS: dict[str, Profile] = {
    "analyst": Profile(name="analyst", threshold=0, drop_keys=frozenset()),
    "partner": Profile(name="partner", threshold=5, harm_rounding=10.0, dominance_share=0.5),
    "public": Profile(
        name="public",
        threshold=10,
        drop_keys=IDENTIFYING_KEYS | FREE_TEXT_KEYS,
        finest_layer="lsoa",
        finest_period="month",
        rounding=5,
        harm_rounding=100.0,
        dominance_share=0.5,
        derived_digits=2,
    ),
}
#: the lowest threshold a config may set for a shared audience
MIN_THRESHOLD = {"partner": 3, "public": 5}
_PROFILE_KEYS = {"threshold", "rounding", "perturbation", "harm_rounding", "dominance_share"}


def check_audience(audience: str, supported: tuple[str, ...] = ("analyst", "partner")) -> str:
    """``audience`` if the command supports it, else a ValidationError naming --audience.

    :func:`get_profile` calls it first with :data:`AUDIENCES`, so a command that
    gets its profile needs no check of its own. The default leaves ``public`` out,
    so a command not yet made safe for the public that checks here refuses it
    rather than writing something unchecked.
    """
    if audience not in supported:
        raise ValidationError(f"--audience: {audience!r} is not one of {', '.join(supported)}")
    return audience


def load_config(config: str | os.PathLike | Mapping[str, Any] | None) -> dict[str, Any]:
    """The sharing config as a dict (a path is read with the project's safe YAML loader)."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    from realimpact import _yaml

    data = _yaml.load_file(config)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(
            "a sharing config is a mapping (profiles:, sharing:)", source=str(config)
        )
    return data


def get_profile(name: str, config: str | os.PathLike | Mapping[str, Any] | None = None) -> Profile:
    """The profile ``name`` with the overrides and sharing fields of ``config``.

    Bad config values are a ValidationError naming the file and the field
    (exit 2 at the command line); nothing is guessed.
    """
    check_audience(name, AUDIENCES)
    src = str(config) if isinstance(config, str | os.PathLike | Path) else "sharing config"
    data = load_config(config)
    unknown = set(data) - {"profiles", "sharing"}
    if unknown:
        raise ValidationError(
            f"unknown field {sorted(unknown)[0]!r} (profiles, sharing)", source=src
        )
    prof = DEFAULTS[name]
    over = data.get("profiles") or {}
    if not isinstance(over, dict):
        raise ValidationError("profiles: must be a mapping of audience to rules", source=src)
    for aud in over:
        if aud not in AUDIENCES:
            raise ValidationError(
                f"profiles.{aud}: not an audience ({', '.join(AUDIENCES)})", source=src
            )
    mine = over.get(name) or {}
    if not isinstance(mine, dict):
        raise ValidationError(f"profiles.{name}: must be a mapping", source=src)
    changes: dict[str, Any] = {}
    for k, v in mine.items():
        where = f"profiles.{name}.{k}"
        if k not in _PROFILE_KEYS:
            raise ValidationError(
                f"{where}: unknown rule ({', '.join(sorted(_PROFILE_KEYS))})", source=src
            )
        if name == "analyst":
            raise ValidationError(f"{where}: the analyst profile suppresses nothing", source=src)
        if k in ("threshold", "rounding"):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValidationError(
                    f"{where}: {v!r} is not a whole number of at least 1", source=src
                )
            if k == "threshold" and v < MIN_THRESHOLD[name]:
                raise ValidationError(
                    f"{where}: {v} is below the lowest allowed for {name} ({MIN_THRESHOLD[name]})",
                    source=src,
                )
            changes[k] = v
        elif k == "harm_rounding":
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ValidationError(f"{where}: {v!r} is not a number of at least 0", source=src)
            changes[k] = float(v)
        elif k == "dominance_share":
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
                raise ValidationError(f"{where}: {v!r} is not a share in (0, 1]", source=src)
            changes[k] = float(v)
        elif k == "perturbation":
            if not isinstance(v, dict) or set(v) != {"max", "key"}:
                raise ValidationError(f"{where}: give both max and key", source=src)
            mx, key = v["max"], v["key"]
            if isinstance(mx, bool) or not isinstance(mx, int) or not 1 <= mx <= 5:
                raise ValidationError(f"{where}.max: {mx!r} is not a whole number 1-5", source=src)
            if not isinstance(key, str) or len(key) < 8:
                raise ValidationError(f"{where}.key: a secret of at least 8 characters", source=src)
            changes[k] = Perturbation(max=mx, key=key)
    sharing = data.get("sharing") or {}
    if not isinstance(sharing, dict):
        raise ValidationError("sharing: must be a mapping", source=src)
    for k, v in sharing.items():
        if k not in SHARING_FIELDS:
            raise ValidationError(
                f"sharing.{k}: unknown field ({', '.join(SHARING_FIELDS)})", source=src
            )
        if k == "review_date":
            if isinstance(v, _dt.date):
                v = v.isoformat()
            try:
                _dt.date.fromisoformat(str(v))
            except ValueError:
                raise ValidationError(
                    f"sharing.review_date: {v!r} is not a date YYYY-MM-DD", source=src
                ) from None
        elif not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ValidationError(f"sharing.{k}: must be text", source=src)
    changes["sharing"] = Sharing(**{k: str(v) for k, v in sharing.items()})
    return dataclasses.replace(prof, **changes)
