# ruff: noqa: E501
"""Hostile case files, procedure files and action payloads: refused at load, one line naming the file and the
field (and the limit), exit status 2, no traceback, nothing started."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.contrib.pydantic import pydantic_data_converter

from domain import limits
from domain.actions import ACTIONS, parse_action
from domain.errors import BadInput
from domain.procedure import PROCEDURES_DIR
from enforce.cases import load_case
from tests.casefiles import ROOT, clearview_text

pytestmark = pytest.mark.timeout(120)

PROCEDURE = (PROCEDURES_DIR / "ca-joint.toml").read_text()
LONG_TITLE = "x" * (limits.SHORT_MAX + 1)


def _append(text: str) -> typing.Callable[[str], str]:
    return lambda t: t + "\n" + text


def _first_step(field: str) -> typing.Callable[[str], str]:
    """A field added to the first step (record-voluntary-measure, 2020-07-06)."""
    return lambda t: t.replace(
        'action = "record-voluntary-measure"\n', f'action = "record-voluntary-measure"\n{field}\n', 1
    )


EXTEND = '[[steps]]\non = 2026-03-03\nby = "opc"\naction = "extend-deadline"\ndeadline = "opc:report"\nreason = "r"\nnotified = ["respondent"]\n'
STEP0 = "steps[0] (2020-07-06 record-voluntary-measure)"

# (id, how to break the case file, the field the error must name)
CASE_MUTATIONS = [
    ("far-future opened", lambda t: t.replace("opened = 2020-02-21", "opened = 9999-12-31"), "opened"),
    ("opened next century", lambda t: t.replace("opened = 2020-02-21", "opened = 2150-01-01"), "opened"),
    (
        "opened next year",
        lambda t: t.replace("opened = 2020-02-21", f"opened = {date.today().replace(year=date.today().year + 1)}"),
        "opened",
    ),
    ("opened before the earliest", lambda t: t.replace("opened = 2020-02-21", "opened = 1989-12-31"), "opened"),
    ("opened year 1", lambda t: t.replace("opened = 2020-02-21", "opened = 0001-01-01"), "opened"),
    ("integer opened", lambda t: t.replace("opened = 2020-02-21", "opened = 1648944000"), "opened"),
    ("float opened", lambda t: t.replace("opened = 2020-02-21", "opened = 1648944000.5"), "opened"),
    (
        "huge title",
        lambda t: t.replace('title = "Joint investigation of Clearview AI, Inc."', f'title = "{LONG_TITLE}"'),
        "title",
    ),
    (
        "huge respondent name",
        lambda t: t.replace('name = "Clearview AI, Inc."', f'name = "{LONG_TITLE}"'),
        "respondent.name",
    ),
    (
        "huge issue title",
        lambda t: t.replace('title = "Did Clearview collect', f'title = "{LONG_TITLE}', 1),
        "issues[0].title",
    ),
    ("huge issue id", lambda t: t.replace('id = "purpose"', f'id = "{"p" * (limits.ID_MAX + 1)}"'), "issues[0].id"),
    ("huge file number", lambda t: t.replace('opc = "PIPEDA-039525"', f'opc = "{LONG_TITLE}"'), "files.opc"),
    ("duplicate issue id", lambda t: t.replace('id = "consent"', 'id = "purpose"'), "issues[1].id"),
    ("linked slug with spaces", lambda t: t.replace('linked = ["rcmp"]', 'linked = ["RCMP case"]'), "linked[0]"),
    ("linked slug with a slash", lambda t: t.replace('linked = ["rcmp"]', 'linked = ["../rcmp"]'), "linked[0]"),
    ("linked slug empty", lambda t: t.replace('linked = ["rcmp"]', 'linked = [""]'), "linked[0]"),
    ("linked not a string", lambda t: t.replace('linked = ["rcmp"]', "linked = [7]"), "linked[0]"),
    (
        "too many linked",
        lambda t: t.replace(
            'linked = ["rcmp"]', "linked = [" + ",".join(f'"c{i}"' for i in range(limits.LIST_MAX + 1)) + "]"
        ),
        "linked",
    ),
    (
        "too many issues",
        lambda t: t + "".join(f'\n[[issues]]\nid = "i{i}"\ntitle = "t"\n' for i in range(limits.LIST_MAX)),
        "issues",
    ),
    (
        "too many steps",
        _append(
            "".join(
                f'[[steps]]\non = 2026-03-0{1 + i % 1}\nby = "opc"\naction = "message"\nto = ["cai-qc"]\nsubject = "s{i}"\ntext = "t"\n'
                for i in range(limits.LIST_MAX)
            )
        ),
        "steps",
    ),
    ("1.5 MB description", _first_step('summary = "' + "d" * 1_500_000 + '"'), "(file)"),
    (
        "description over TEXT_MAX",
        lambda t: t.replace(
            'description = "Stopped offering', 'description = "' + "d" * limits.TEXT_MAX + "Stopped offering", 1
        ),
        f"{STEP0}.description",
    ),
    ("file over the byte limit", _append("# " + "x" * limits.CASE_FILE_BYTES_MAX), "(file)"),
    (
        "deep nesting",
        _first_step("deep = " + "[" * (limits.NESTING_MAX + 2) + "]" * (limits.NESTING_MAX + 2)),
        "(file)",
    ),
    (
        "step before the earliest",
        lambda t: t.replace("on = 2020-07-06", "on = 1980-07-06", 1),
        "steps[0] (1980-07-06 record-voluntary-measure).on",
    ),
    (
        "step before the case opened",
        lambda t: t.replace("on = 2020-07-06", "on = 2020-01-06", 1),
        "steps[0] (2020-01-06 record-voluntary-measure).on",
    ),
    (
        "step far in the future",
        _append('[[steps]]\non = 9999-12-31\nby = "opc"\naction = "close-track"\noutcome = "x"\n'),
        "steps[21] (9999-12-31 close-track).on",
    ),
    (
        "integer step date",
        lambda t: t.replace("on = 2020-07-06", "on = 1594000000", 1),
        "steps[0] (1594000000 record-voluntary-measure).on",
    ),
    (
        "text step date",
        lambda t: t.replace("on = 2020-07-06", 'on = "July"', 1),
        "steps[0] (July record-voluntary-measure).on",
    ),
    ("impossible step date", lambda t: t.replace("on = 2021-02-02", "on = 2021-02-30", 1), "on"),
    (
        "duplicated step",
        lambda t: t + "\n" + t[t.rindex("[[steps]]") :],
        "steps[21] (2026-03-02 close-track)",
    ),
    (
        "new_due and added",
        _append(EXTEND + "new_due = 2026-06-01\nadded = 10\n"),
        "steps[21] (2026-03-03 extend-deadline).new_due",
    ),
    (
        "new_due far in the future",
        _append(EXTEND + "new_due = 9999-12-31\n"),
        "steps[21] (2026-03-03 extend-deadline).new_due",
    ),
    ("integer new_due", _append(EXTEND + "new_due = 1790000000\n"), "steps[21] (2026-03-03 extend-deadline).new_due"),
    (
        "anticipated_completion far",
        _append(EXTEND + "added = 10\nanticipated_completion = 9000-01-01\n"),
        "steps[21] (2026-03-03 extend-deadline).anticipated_completion",
    ),
    (
        "added beyond MAX_DAYS",
        _append(EXTEND + f"added = {10 * 3650}\n"),
        "steps[21] (2026-03-03 extend-deadline).added",
    ),
    (
        "step subject too long",
        _append(
            f'[[steps]]\non = 2026-03-03\nby = "opc"\naction = "message"\nto = ["cai-qc"]\nsubject = "{LONG_TITLE}"\ntext = "t"\n'
        ),
        "steps[21] (2026-03-03 message).subject",
    ),
    (
        "step list too long",
        _append(
            '[[steps]]\non = 2026-03-03\nby = "opc"\naction = "message"\nsubject = "s"\ntext = "t"\nto = ['
            + ",".join('"cai-qc"' for _ in range(limits.LIST_MAX + 1))
            + "]\n"
        ),
        "steps[21] (2026-03-03 message).to",
    ),
    (
        "step by too long",
        lambda t: t.replace('by = "respondent"', f'by = "{"r" * (limits.ID_MAX + 1)}"', 1),
        f"{STEP0}.by",
    ),
    ("not UTF-8", lambda t: t.replace("Clearview AI, Inc.", "Clearview AI, Inc. \udcff", 1), "(file)"),
]

# (id, how to break the procedure file, the field the error must name)
PROCEDURE_MUTATIONS = [
    (
        "typo'd trigger",
        lambda t: t.replace('trigger = "RecommendationsIssued"', 'trigger = "RecommendationsIsued"'),
        "deadlines.response.trigger",
    ),
    (
        "typo'd met_by",
        lambda t: t.replace('met_by = ["InformationProvided"]', 'met_by = ["InformationProvidd"]'),
        "deadlines.information.met_by[0]",
    ),
    (
        "typo'd paused_by",
        lambda t: t.replace('paused_by = ["ComplianceAgreementSigned"]', 'paused_by = ["ComplianceAgreementSined"]'),
        "authorities.opc.deadlines.court-application.paused_by[0]",
    ),
    ("unknown subdivision", lambda t: t.replace('subdiv = "QC"', 'subdiv = "ZZ"'), "calendars.ca-qc.subdiv"),
    ("unknown country", lambda t: t.replace('country = "CA"', 'country = "XX"', 1), "calendars.ca.country"),
    ("lower-case subdivision", lambda t: t.replace('subdiv = "BC"', 'subdiv = "bc"'), "calendars.ca-bc.subdiv"),
    (
        "huge procedure title",
        lambda t: t.replace('title = "Canadian joint privacy investigation"', f'title = "{LONG_TITLE}"', 1),
        "title",
    ),
    ("not UTF-8", lambda t: t.replace("\n", "\n# \udcff\n", 1), "(file)"),
    ("procedure over the byte limit", lambda t: t + "\n# " + "x" * limits.PROCEDURE_FILE_BYTES_MAX, "(file)"),
    (
        "deep procedure nesting",
        lambda t: "deep = " + "[" * (limits.NESTING_MAX + 2) + "]" * (limits.NESTING_MAX + 2) + "\n" + t,
        "(file)",
    ),
    (
        "too many reminders",
        lambda t: t.replace(
            "reminders = [10, 2]", "reminders = [" + ",".join("1" for _ in range(limits.LIST_MAX + 1)) + "]", 1
        ),
        "deadlines.information.reminders",
    ),
    (
        "huge summary",
        lambda t: t.replace('summary = "', 'summary = "' + "s" * limits.TEXT_MAX, 1),
        "deadlines.information.summary",
    ),
]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return path


def _cli(command: str, path: Path) -> subprocess.CompletedProcess:
    # Nothing listens at this address: a refusal must come before any attempt to reach Temporal.
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:9", "PATH": "/usr/bin:/bin", "ENFORCE_DATA_DIR": str(path.parent / ".data")}
    return subprocess.run(
        [sys.executable, "-m", "enforce.main", command, str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def _assert_refused(result: subprocess.CompletedProcess, source: str, field: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert lines[0].startswith(f"error: {source}: {field}: "), lines[0][:500]
    assert result.stdout == ""


@pytest.mark.parametrize("breaks,field", [m[1:] for m in CASE_MUTATIONS], ids=[m[0] for m in CASE_MUTATIONS])
def test_a_hostile_case_file_is_refused_by_open(tmp_path, breaks, field):
    text = breaks(clearview_text())
    assert text != clearview_text(), "the breaking edit did not apply"
    path = _write(tmp_path / "case.toml", text)
    _assert_refused(_cli("open", path), str(path), field)


@pytest.mark.parametrize("breaks,field", [m[1:] for m in PROCEDURE_MUTATIONS], ids=[m[0] for m in PROCEDURE_MUTATIONS])
def test_a_hostile_procedure_file_is_refused_by_open(tmp_path, breaks, field):
    text = breaks(PROCEDURE)
    assert text != PROCEDURE, "the breaking edit did not apply"
    # A procedures/ folder beside the case file wins over the shipped procedure.
    proc = _write(tmp_path / "procedures" / "ca-joint.toml", text)
    case = _write(tmp_path / "case.toml", clearview_text())
    _assert_refused(_cli("open", case), str(proc), field)


REPRODUCTIONS = ["far-future opened", "integer opened", "description over TEXT_MAX", "huge title"]


@pytest.mark.parametrize("label", REPRODUCTIONS)
def test_simulate_refuses_the_same_files(tmp_path, label):
    breaks, field = next(m[1:] for m in CASE_MUTATIONS if m[0] == label)
    path = _write(tmp_path / "case.toml", breaks(clearview_text()))
    _assert_refused(_cli("simulate", path), str(path), field)


@pytest.mark.parametrize("label", ["typo'd trigger", "unknown subdivision"])
def test_simulate_refuses_a_hostile_procedure(tmp_path, label):
    breaks, field = next(m[1:] for m in PROCEDURE_MUTATIONS if m[0] == label)
    proc = _write(tmp_path / "procedures" / "ca-joint.toml", breaks(PROCEDURE))
    case = _write(tmp_path / "case.toml", clearview_text())
    _assert_refused(_cli("simulate", case), str(proc), field)


async def test_a_refused_case_file_starts_no_workflow(dev_env, data_dir, tmp_path, slug):
    """Against a real dev server: the far-future case is refused and no investigation-<slug> exists."""
    import os

    from tests.live import enforce

    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "ENFORCE_DATA_DIR": str(data_dir),
    }
    text = clearview_text(slug).replace("opened = 2020-02-21", "opened = 9999-12-31")
    path = _write(tmp_path / "case.toml", text)
    result = await enforce(env, "open", str(path))
    assert result.returncode == 2 and "opened: " in result.stderr, result.stderr
    listed = [w.id async for w in dev_env.client.list_workflows(f"WorkflowId = 'investigation-{slug}'")]
    assert listed == []


# ------------------------------------------------------------------------ limits over every action's fields


def _limit(info) -> int | None:
    """A text field's limit in clear: TEXT_MAX for content that may arrive sealed (limits.Content), whose
    envelope may be longer (SEALED_MAX)."""
    for m in info.metadata:
        if getattr(m, "max_length", None) is not None:
            return limits.TEXT_MAX if m.max_length == limits.SEALED_MAX else m.max_length
    return None


def _fields(kind: str) -> list[tuple[str, str, int]]:
    """(action, field, limit) for every text field (kind 'text') or list/table field (kind 'list')."""
    out = []
    for name, cls in ACTIONS.items():
        for fname, info in cls.model_fields.items():
            limit = _limit(info)
            origin = typing.get_origin(info.annotation)
            is_list = origin in (list, dict)
            if limit is None:
                continue
            patterned = any(getattr(m, "pattern", None) for m in info.metadata)
            if (kind == "list") == is_list and not patterned:
                out.append((name, fname, limit))
    return out


TEXT_FIELDS = _fields("text")
LIST_FIELDS = _fields("list")


def _valid(name: str) -> dict:
    """A payload each action's model accepts: every required field at a plain value."""
    cls = ACTIONS[name]
    out: dict = {"by": "opc"}
    for fname, info in cls.model_fields.items():
        if not info.is_required() or fname in out:
            continue
        out[fname] = _sample(info.annotation)
    return out


def _sample(annotation):
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        inner = args[0]
        return [{"id": "R1", "text": "t"}] if isinstance(inner, type) and issubclass(inner, BaseModel) else ["opc"]
    if origin is dict:
        return {"R1": "accepted"}
    if origin is typing.Annotated:
        return _sample(args[0])
    return "x"


def test_every_action_field_has_a_limit():
    for name, cls in ACTIONS.items():
        for fname, info in cls.model_fields.items():
            base = typing.get_origin(info.annotation)
            if info.annotation is str or base in (list, dict):
                assert _limit(info) is not None, f"{name}.{fname} has no limit"
    assert len(TEXT_FIELDS) >= 30 and len(LIST_FIELDS) >= 6


@pytest.mark.parametrize("name,field,limit", TEXT_FIELDS, ids=[f"{a}.{f}" for a, f, _ in TEXT_FIELDS])
def test_a_text_one_over_its_limit_is_refused(name, field, limit):
    at = {**_valid(name), field: "a" * limit}
    parse_action(name, at)  # at the limit: accepted
    with pytest.raises(BadInput) as caught:
        parse_action(name, {**at, field: "a" * (limit + 1)})
    assert str(caught.value) == f"{name}: {field}: at most {limit} characters"


@pytest.mark.parametrize(
    ("name", "field"), [("record-evidence", "description"), ("message", "text"), ("step", "summary")]
)
def test_content_in_its_envelope_may_be_longer_than_its_text_and_is_held_to_its_own_limit(name, field):
    """A text at TEXT_MAX, sealed for the most recipients a list holds, fits SEALED_MAX; beyond it, refused."""
    from enforce import sealing
    from enforce.identity import generate

    entries = [generate(f"u{i}", f"a{i}").entry() for i in range(limits.LIST_MAX)]
    envelope = sealing.seal("a" * limits.TEXT_MAX, [e.party for e in entries], entries)
    assert limits.TEXT_MAX < len(envelope) <= limits.SEALED_MAX
    parse_action(name, {**_valid(name), field: envelope})
    with pytest.raises(BadInput) as caught:
        parse_action(name, {**_valid(name), field: envelope + "a" * (limits.SEALED_MAX - len(envelope) + 1)})
    assert str(caught.value) == f"{name}: {field}: at most {limits.SEALED_MAX} characters"


@pytest.mark.parametrize("name,field,limit", LIST_FIELDS, ids=[f"{a}.{f}" for a, f, _ in LIST_FIELDS])
def test_a_list_one_over_its_limit_is_refused(name, field, limit):
    if field == "recommendations":
        over = [{"id": f"R{i}", "text": "t"} for i in range(limit + 1)]
    elif field == "answers":
        over = {f"R{i}": "accepted" for i in range(limit + 1)}
    else:
        over = [f"a{i}" for i in range(limit + 1)]
    with pytest.raises(BadInput) as caught:
        parse_action(name, {**_valid(name), field: over})
    assert str(caught.value) == f"{name}: {field}: at most {limit} items"


def _largest(name: str) -> dict:
    """The payload with every field at its limit (ASCII), built from the model's own limits."""
    cls = ACTIONS[name]
    out = _valid(name)
    for fname, info in cls.model_fields.items():
        limit = _limit(info)
        origin = typing.get_origin(info.annotation)
        if origin is list and limit:
            inner = typing.get_args(info.annotation)[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                out[fname] = [
                    {"id": "R" + f"{i}".rjust(limits.ID_MAX - 1, "0"), "text": "t" * limits.PARAGRAPH_MAX}
                    for i in range(limit)
                ]
            else:
                out[fname] = [f"{i}".rjust(limits.ID_MAX, "a") for i in range(limit)]
        elif origin is dict and limit:
            out[fname] = {f"{i}".rjust(limits.ID_MAX, "R"): "accepted" for i in range(limit)}
        elif fname == "sha256":
            out[fname] = "0" * 64
        elif limit:
            out[fname] = "a" * limit
    return out


@pytest.mark.parametrize("name", list(ACTIONS))
def test_the_largest_legal_action_stays_under_the_payload_limit(name):
    action = parse_action(name, _largest(name))
    [payload] = pydantic_data_converter.payload_converter.to_payloads([action])
    assert len(payload.data) <= limits.ACTION_BYTES_MAX < 2 * 1024 * 1024
    print(f"{name}: largest legal payload {len(payload.data)} bytes (limit {limits.ACTION_BYTES_MAX})")


def test_escaped_characters_cannot_push_an_action_over_the_payload_limit():
    # Each control character is counted once but encoded as six bytes (\\u0001).
    with pytest.raises(BadInput) as caught:
        parse_action("message", {"by": "opc", "to": ["cai-qc"], "subject": "s", "text": "\x01" * limits.TEXT_MAX})
    assert "(payload): " in str(caught.value) and f"at most {limits.ACTION_BYTES_MAX} bytes" in str(caught.value)


def test_the_largest_legal_case_file_opens_under_two_megabytes(tmp_path):
    """A case file at the byte limit, its steps full of characters JSON escapes, with the shipped procedure."""
    base = clearview_text()
    step = '[[steps]]\non = 2026-03-03\nby = "opc"\naction = "message"\nto = ["cai-qc"]\nsubject = "s"\ntext = \'{}\'\n'
    room = limits.CASE_FILE_BYTES_MAX - len(base.encode()) - 200
    chunk = limits.TEXT_MAX // 2
    steps, i = [], 0
    while room > len(step) + chunk:
        steps.append(step.format('"\\' * (chunk // 2 - 1) + f"{i:04d}"))
        room -= len(steps[-1]) + 1
        i += 1
    path = _write(tmp_path / "big.toml", base + "\n" + "\n".join(steps))
    assert len(path.read_bytes()) <= limits.CASE_FILE_BYTES_MAX
    case, procedure = load_case(path)
    from workflows.messages import InvestigationInput

    [payload] = pydantic_data_converter.payload_converter.to_payloads(
        [InvestigationInput(case=case, procedure=procedure)]
    )
    # The procedure file may be as large again: both at their limits, JSON at most doubling, stay under 2 MB.
    bound = len(payload.data) + 2 * limits.PROCEDURE_FILE_BYTES_MAX
    print(f"largest case file open: {len(payload.data)} bytes; with a procedure at its limit <= {bound}")
    assert bound < 2 * 1024 * 1024


def test_limits_are_documented():
    doc = (ROOT / "docs" / "case-file.md").read_text()
    for value in (
        limits.TEXT_MAX,
        limits.SHORT_MAX,
        limits.ID_MAX,
        limits.LIST_MAX,
        limits.CASE_FILE_BYTES_MAX,
        limits.PROCEDURE_FILE_BYTES_MAX,
        limits.NESTING_MAX,
        limits.EARLIEST.isoformat(),
        limits.LATEST.isoformat(),
    ):
        assert str(value) in doc, value


@pytest.mark.parametrize(
    "args,field",
    [
        (
            [
                "draft-findings",
                "--as",
                "opc",
                "-f",
                "finding=well-founded",
                "-f",
                "summary=" + "s" * (limits.TEXT_MAX + 1),
            ],
            "summary",
        ),
        (["message", "--as", "opc", "-f", 'to=["cai-qc"]', "-f", "text=t", "-f", "subject=" + LONG_TITLE], "subject"),
        (
            [
                "extend-deadline",
                "--as",
                "opc",
                "--json",
                json.dumps(
                    {"deadline": "opc:report", "reason": "r", "notified": ["respondent"], "new_due": "9999-12-31"}
                ),
            ],
            "new_due",
        ),
    ],
    ids=["summary", "subject", "new_due"],
)
def test_enforce_act_refuses_an_oversized_or_far_field_with_status_2(tmp_path, args, field):
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:9", "PATH": "/usr/bin:/bin", "ENFORCE_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "enforce.main", "act", "clearview-ai", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-1000:]
    assert f": {field}: " in lines[0]
