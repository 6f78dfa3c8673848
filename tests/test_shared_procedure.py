"""A worker shares one Procedure object among the runs that decode the same procedure (domain/procedure.py):
what each run gets is the procedure it was given, a different or a bad text is never answered from the
share, and the share stays bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from domain import procedure as proc_mod
from domain.procedure import Procedure, known_procedures, load_procedure
from enforce.cases import load_case
from workflows.messages import InvestigationInput

ROOT = Path(__file__).resolve().parent.parent

DECODE = TypeAdapter(Procedure)


def text_of(p: Procedure) -> bytes:
    return DECODE.dump_json(p)


@pytest.mark.parametrize("pid", known_procedures())
def test_runs_decoding_one_procedure_share_it_and_get_its_values(pid):
    shipped = load_procedure(pid)
    first, second = DECODE.validate_json(text_of(shipped)), DECODE.validate_json(text_of(shipped))
    assert first is second
    assert first == shipped
    # Inside a workflow input too (the joint record's: the procedure is one field among others).
    case, procedure = load_case(ROOT / "cases" / "clearview.toml")
    inputs = TypeAdapter(InvestigationInput)
    text = inputs.dump_json(InvestigationInput(case=case, procedure=procedure))
    runs = [inputs.validate_json(text) for _ in range(3)]
    assert all(r.procedure is runs[0].procedure for r in runs)
    assert runs[0].procedure == procedure and runs[0].case == case
    assert runs[0].case is not runs[1].case  # a case file is the run's own


def test_another_text_is_another_procedure():
    ids = known_procedures()
    assert len(ids) >= 2
    decoded = [DECODE.validate_json(text_of(load_procedure(pid))) for pid in ids]
    assert len({id(p) for p in decoded}) == len(ids)
    assert [p.id for p in decoded] == ids
    # The same procedure with one word changed is its own object with that word.
    raw = json.loads(text_of(load_procedure(ids[0])))
    raw["title"] = raw["title"] + " (amended)"
    amended = DECODE.validate_json(json.dumps(raw))
    assert amended.title.endswith("(amended)")
    assert DECODE.validate_json(text_of(load_procedure(ids[0]))).title == load_procedure(ids[0]).title


@pytest.mark.parametrize(
    "field,value",
    [("title", "x" * 100_000), ("findings_rule", "majority"), ("unknown_field", 1), ("calendars", "none")],
)
def test_a_bad_text_is_refused_even_after_the_good_one_is_shared(field, value):
    good = json.loads(text_of(load_procedure(known_procedures()[0])))
    DECODE.validate_json(json.dumps(good))
    bad = {**good, field: value}
    for _ in range(2):
        with pytest.raises(ValidationError) as e:
            DECODE.validate_json(json.dumps(bad))
        assert field in str(e.value)


def test_the_share_is_bounded():
    raw = json.loads(text_of(load_procedure(known_procedures()[0])))
    for i in range(proc_mod.SHARED_MAX + 10):
        DECODE.validate_json(json.dumps({**raw, "version": f"v{i}"}))
    assert len(proc_mod._shared) <= proc_mod.SHARED_MAX
    last = DECODE.validate_json(json.dumps({**raw, "version": f"v{proc_mod.SHARED_MAX + 9}"}))
    assert last.version == f"v{proc_mod.SHARED_MAX + 9}"
