"""``realimpact plan new``: a commented plan template to fill in before the operation.

The comments carry the reasoning of the source documents, so the person
filling the plan in meets the questions (mechanism, displacement, harms of the
operation itself, support afterwards) at the point of writing, not at review.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from realimpact.errors import ValidationError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

TEMPLATE = """\
# Operation plan (realimpact). Fill in every field BEFORE the operation starts:
# "any activity to tackle drug markets should regard the measurement of impact as
# being central to the whole programme and not added in retrospectively"
# (Home Office 2003, Disrupting crack markets, section 4.3).
# Check it with:   realimpact plan validate {filename}
# Power:           realimpact plan power {filename}
# Catalogues:      realimpact plan catalogue tactics | displacement | indicators | ...
id: {plan_id}
title: {title}
start: {start}                  # first month of the operation (YYYY-MM)
end: {end}                    # last month of the operation

targets:
  markets: []                   # ids from the market registry (`realimpact markets list`)
  selling_modes: [open-street]  # open-street | arrange-to-meet | street-sex-work |
                                # crack-house | house-based | middle-market (Table 3.1)
  level: street                 # street | middle | import

areas:
  layer: lsoa                   # any area layer in the store (`realimpact areas list`)
  target: []                    # where the operation acts
  buffer: []                    # next to the target: where a displaced market would go
  control: []                   # similar areas the operation will not touch or displace into

# Harms the operation targets (ids from `realimpact harm taxonomy`), each with the
# mechanism by which the tactics are expected to reduce it.
harms:
  - id: hm-social-loc-fear-crime-anti-social
    mechanism: >-
      REPLACE: how the tactics below reduce this harm for the people who suffer it.

# The primary design, declared now, before any result is seen: its 95% interval alone
# gives each outcome's verdict; the other designs are shown only as sensitivity checks.
# Leave it out to let the evaluation choose from the areas and months: did with at
# least 5 control areas and 6 baseline months, else wdd (with any control), else its.
# design: did                   # did | wdd | its (an indicator may set its own design:)

# Tactic ids from `realimpact plan catalogue tactics --selling-mode MODE`.
tactics: [visible-street-patrols]

# How impact will be measured. At least one OUTCOME (not only outputs: arrests and
# seizures measure activity, not impact). The baseline must end before `start`
# and its data must already be in the store.
indicators:
  - id: harm-crime
    label: Violence, robbery and anti-social behaviour   # the name readers of the report see
    kind: outcome               # output | outcome | process | indirect
    source: police_uk           # police_uk | stop_search | partner:<name> | survey:<name>
    crime_types: [Violence and sexual offences, Robbery, Anti-social behaviour]
    baseline:  {{from: {baseline_from}, to: {baseline_to}}}
    follow_up: {{from: {start}, to: {end}}}
  - id: drug-searches
    label: Stop and search for drugs
    kind: output
    source: stop_search
    crime_types: [Controlled drugs]   # objects of search
    baseline:  {{from: {baseline_from}, to: {baseline_to}}}
    follow_up: {{from: {start}, to: {end}}}

# All markets move or change when disrupted (section 3.9). Where will this one go?
displacement:
  expected: >-
    REPLACE: likely displacement (see `realimpact plan catalogue displacement`).
  types: [geographical]         # geographical | crime-type | tactical | target | substance | policy
  mitigation: >-
    REPLACE: how the buffer will be watched and protected.

# Harms the operation itself may cause (ids from
# `realimpact plan catalogue unintended-consequences`), each with a mitigation and
# the indicator that will show whether it happened.
unintended_consequences:
  - id: enf-geographical-displacement
    mitigation: >-
      REPLACE: e.g. patrols extended to the buffer; monthly displacement check.
    monitor: harm-crime
    area: buffer                # where it would show: target | buffer | target+buffer

# Support after the operation. Raids and closures call for all three (section 3.5.2,
# 3.10.4): who provides it, how much, and from when.
support:
  treatment_capacity: null      # e.g. "outreach clinic, 20 extra places, weeks 1-8"
  vulnerable_tenants: null      # e.g. "housing team rehouses taken-over tenants"
  children: null                # e.g. "children's services on call for each warrant"

partners: []                    # e.g. [housing, treatment, childrens-services]
"""


def yaml_scalar(text: str) -> str:
    """``text`` as one line of YAML that reads back as exactly that string.

    Plain when it can be ("REPLACE with a short title"), quoted when YAML would
    read it otherwise: ``A: B`` (a mapping), ``# x`` (a comment), ``- x``,
    ``{x}``, ``yes``, ``123``, quotes, and line breaks (escaped, so the value
    stays on its line and the comment columns below it stay put).
    """
    import yaml

    for style in (None, '"'):  # plain or single-quoted if one line will do, else escaped
        dumped = yaml.safe_dump(
            [text], default_style=style, default_flow_style=True, allow_unicode=True,
            width=1_000_000,
        )  # fmt: skip
        value = dumped.strip()[1:-1]  # inside the flow sequence's brackets
        if len(value.splitlines()) != 1:  # a raw break (\n, U+2028 ...) would end the line
            continue
        try:
            if yaml.safe_load(f"v: {value}") == {"v": text}:
                return value
        except yaml.YAMLError:
            continue
    raise ValidationError(f"--title: {text!r} cannot be written as YAML")  # pragma: no cover


def plan_template(
    plan_id: str = "op-new",
    *,
    title: str = "REPLACE with a short title",
    start: str = "2025-01",
    end: str = "2025-03",
    filename: str = "PLAN.yaml",
) -> str:
    """The template text, with a 12-month baseline ending the month before ``start``."""
    from realimpact.periods import check_month, month_add

    if not ID_RE.match(plan_id):
        raise ValidationError(
            f"--id: {plan_id!r} must be lower-case letters, digits, '.', '_' or '-'"
        )
    start, end = check_month(start, "--start"), check_month(end, "--end")
    if end < start:
        raise ValidationError(f"--end: {end} is before --start {start}")
    filename = " ".join(str(filename).splitlines())  # it sits in a comment line
    return TEMPLATE.format(
        plan_id=plan_id, title=yaml_scalar(title), start=start, end=end, filename=filename,
        baseline_from=month_add(start, -12), baseline_to=month_add(start, -1),
    )  # fmt: skip


def write_plan_template(
    path: str | os.PathLike, *, force: bool = False, **kwargs: str
) -> dict[str, str]:
    """Write the template to ``path``; refuse to overwrite unless ``force``."""
    p = Path(path)
    if p.exists() and not force:
        raise ValidationError(f"{p}: already exists (use --force to overwrite)")
    if not p.parent.is_dir():
        raise ValidationError(f"{p}: folder {p.parent} does not exist")
    kwargs.setdefault(
        "plan_id", re.sub(r"[^a-z0-9._-]+", "-", p.stem.lower()).strip("-._") or "op-new"
    )
    text = plan_template(filename=p.name, **kwargs)
    p.write_text(text, encoding="utf-8")
    return {"path": str(p), "id": kwargs["plan_id"]}
