"""The `enforce` command.

Each command imports what it uses when it runs: the Temporal SDK, the domain's models and procedures, the
payload codec and the templates are not loaded to print `--help`, and `enforce list` loads no domain model.
At import this module, and the command modules it registers (dev, keys, watching, paperwork, figures), only
define their commands.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from enforce import dev, figures, logs, paperwork, settings, users, watching
from enforce.views import plain

if TYPE_CHECKING:
    from enforce import identity

app = typer.Typer(
    name="enforce",
    help="Run multi-authority enforcement investigations as durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(dev.app, name="dev")
app.add_typer(users.app, name="keys")

# Piped output (scripts, logs) gets room for whole table cells instead of an 80-column guess.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 400)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="`table` for people, `json` for scripts.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="Sign as this user of this machine (default: the one for the party).")
]
AsOpt = Annotated[
    str | None, typer.Option("--as", help="Show only what this party (an authority id, or respondent) may see.")
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="The file as it stood on this date of the case clock (YYYY-MM-DD).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only events up to this date of the case clock (YYYY-MM-DD).")
]


class Failure(Exception):
    """A command that cannot do what was asked: one line on stderr, and the exit status it names."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# A workflow answers queries and updates only while a worker runs it: past this, say so instead of waiting.
ANSWER_TIMEOUT_S = 60


async def answered(call, target: str):
    import asyncio

    try:
        return await asyncio.wait_for(call, ANSWER_TIMEOUT_S)
    except TimeoutError:
        raise Failure(
            f"no answer from {target} within {ANSWER_TIMEOUT_S} s: is a worker running? (`enforce dev status`)"
        ) from None


async def _missing(client, slug: str, target: str) -> str:
    """Why a record did not answer: it does not exist here, or it has closed."""
    from temporalio.service import RPCError

    try:
        desc = await client.get_workflow_handle(target).describe()
    except RPCError:
        return f"no investigation {slug!r} ({target}) on {settings.temporal_address()}"
    when = desc.close_time.date().isoformat() if desc.close_time else "?"
    return f"{target} is closed ({desc.status.name.lower() if desc.status else 'closed'} on {when})"


def _run(coro):
    import asyncio

    from domain.errors import DataError
    from enforce.connect import Unreachable

    try:
        return asyncio.run(coro)
    except DataError as e:
        raise Failure(str(e), 2) from None
    except Unreachable as e:
        raise Failure(str(e), 1) from None


@app.command("open")
def open_case(
    casefile: Annotated[Path, typer.Argument(help="A case file (TOML), see docs/case-file.md.")],
    if_absent: Annotated[
        bool, typer.Option("--if-absent", help="Succeed quietly when the investigation already exists.")
    ] = False,
) -> None:
    """Open an investigation from a case file and serve the notice of investigation.

    Example: `enforce open cases/clearview.toml`
    """
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from domain.errors import DataError
    from enforce import investigations
    from enforce.cases import load_case
    from enforce.connect import connect
    from workflows.messages import workflow_id

    try:
        case, procedure = load_case(casefile)
    except DataError as e:
        raise Failure(str(e), 2) from None

    async def go() -> None:
        client = await connect()
        wid = workflow_id(case.slug)
        try:
            handle = await investigations.start(client, case, procedure)
        except WorkflowAlreadyStartedError:
            desc = await client.get_workflow_handle(wid).describe()
            status = "open" if desc.status == WorkflowExecutionStatus.RUNNING else "closed"
            when = desc.start_time.date().isoformat() if desc.start_time else "?"
            message = f"{wid} already exists ({status}, started {when}); see `enforce show {case.slug}`"
            if if_absent:
                out.print(plain(message))
                return
            raise Failure(message) from None
        out.print(plain("Opened ") + plain(handle.id, "bold"))
        out.print(plain(f"UI: {settings.ui_url()}/namespaces/{client.namespace}/workflows/{handle.id}"))

    _run(go())


@app.command()
def show(
    slug: Annotated[str, typer.Argument(help="The case's slug, e.g. clearview-ai.")],
    as_party: AsOpt = None,
    as_of: AsOfOpt = None,
    output: OutputOpt = Output.TABLE,
) -> None:
    """Show an investigation: stage, tracks, open deadlines with days left, notices served and undelivered.
    With `--as-of`, the file as it stood at the end of that day of the case clock.

    Example: `enforce show clearview-ai --as oipc-bc -o json`, `enforce show clearview-ai --as-of 2021-06-10`
    """
    from enforce import investigations, views

    day = _day(as_of, "--as-of")

    async def go() -> None:
        client = await _client()
        view = await _state(client, slug, as_party, day, "--as-of")
        view = investigations.opened(view, _reader(as_party, slug), as_party)
        if output == Output.JSON:
            out.print_json(json.dumps(view.model_dump(mode="json")))
        else:
            views.print_state(out, view)

    _run(go())


PENDING = 4  # `enforce act`: no outcome within --wait; the action may still land (retry with its --request-id)
DEFAULT_WAIT = "30s"
_WAIT_UNITS = {"s": 1, "m": 60}


def _parse_fields(fields: list[str], as_json: str | None) -> dict:
    from domain.limits import ACTION_BYTES_MAX, NESTING_MAX, depth

    payload: dict = {}
    if as_json:
        try:
            payload = json.loads(as_json)
        except (ValueError, RecursionError) as e:
            raise Failure(f"--json: not valid JSON ({str(e)[:80]})", 2) from None
        if not isinstance(payload, dict):
            raise Failure("--json: give a JSON object of the action's fields", 2)
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Failure(f"--field: {item[:40]!r} is not key=value", 2)
        try:
            payload[key] = json.loads(value)  # numbers, lists, objects; anything else is text
        except ValueError:
            payload[key] = value
        except RecursionError:
            raise Failure(f"--field {key[:40]!r}: nested deeper than {NESTING_MAX}", 2) from None
    if depth(payload) > NESTING_MAX:
        raise Failure(f"the action's fields nest deeper than {NESTING_MAX}", 2)
    size = len(json.dumps(payload, ensure_ascii=False).encode())
    if size > ACTION_BYTES_MAX:
        raise Failure(f"the action's fields are {size} bytes, more than {ACTION_BYTES_MAX}", 2)
    return payload


def _request_id(value: str | None) -> str:
    import re
    import uuid

    from domain.limits import ID_MAX, REQUEST_ID_PATTERN

    if value is None:
        return str(uuid.uuid4())
    if len(value) > ID_MAX:
        raise Failure(f"--request-id: {len(value)} characters, more than {ID_MAX}", 2)
    if not re.match(REQUEST_ID_PATTERN, value):
        raise Failure("--request-id: use letters, digits and ._:- (starting with a letter or digit)", 2)
    return value


def _wait_seconds(text: str) -> float:
    """`30s`, `2m`, `90` (seconds); within ACT_WAIT_MAX_S."""
    from domain.limits import ACT_WAIT_MAX_S

    s = text.strip().lower()
    unit = _WAIT_UNITS.get(s[-1:], None) if s else None
    number = s[:-1] if unit else s
    if not number.isdigit() or len(number) > 6:
        raise Failure(f"--wait: {text[:40]!r} is not a duration; use e.g. 30s or 2m", 2)
    seconds = int(number) * (unit or 1)
    if not 1 <= seconds <= ACT_WAIT_MAX_S:
        raise Failure(f"--wait: between 1s and {ACT_WAIT_MAX_S}s", 2)
    return float(seconds)


# What `enforce act` and `enforce sign` both take: an action and its fields, and who takes it.
ActionArg = Annotated[str, typer.Argument(help="An action (see `enforce actions`).")]
ActorOpt = Annotated[str, typer.Option("--as", help="Who acts: an authority id or `respondent`.")]
FieldOpt = Annotated[
    list[str] | None, typer.Option("--field", "-f", help="A field as key=value (JSON values allowed).")
]
JsonOpt = Annotated[str | None, typer.Option("--json", help="All fields as one JSON object.")]
ToOpt = Annotated[list[str] | None, typer.Option("--to", help="Addressees (for `message`).")]


def _parse_act(action: str, payload: dict):
    """An action named on the command line. A step of a shipped procedure (`circulate-draft-decision`) stands for
    the `step` action, as in a case file; the case's record then checks that its procedure has that step."""
    import difflib

    from domain.actions import ACTIONS, parse_action
    from domain.errors import BadInput
    from domain.limits import LATEST
    from domain.procedure import known_procedures, load_procedure

    if action in ACTIONS:
        return parse_action(action, payload)
    steps: list[str] = []
    for pid in known_procedures():
        procedure = load_procedure(pid, on=LATEST)
        if action in procedure.steps:
            return parse_action(action, payload, procedure)
        steps += [s for s, spec in procedure.steps.items() if spec.by != ["system"] and s not in steps]
    near = difflib.get_close_matches(action, [*ACTIONS, *steps], n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise BadInput(
        f"unknown action {action[:100]!r}{hint}; actions: {', '.join(ACTIONS)}; procedure steps: {', '.join(steps)}"
    )


@app.command(
    epilog="Exit status: 0 recorded (or already recorded under this --request-id), 1 refused, 2 bad input, "
    f"{PENDING} pending: no outcome within --wait (the action may still be recorded; check with "
    "`enforce timeline SLUG` and retry with the same --request-id, which never records it twice)."
)
def act(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    action: ActionArg,
    actor: ActorOpt,
    field: FieldOpt = None,
    as_json: JsonOpt = None,
    to: ToOpt = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id",
            help="This request's id (default: a new one, printed). A retry with the same id records nothing new.",
        ),
    ] = None,
    wait: Annotated[
        str, typer.Option("--wait", help=f"How long to wait for a worker, e.g. 30s or 2m; then exit {PENDING}.")
    ] = DEFAULT_WAIT,
    user: UserOpt = None,
    seal: Annotated[
        bool,
        typer.Option(
            "--seal",
            hidden=True,
            help="Accepted and ignored: content between authorities is always sealed now.",
        ),
    ] = False,
    output: OutputOpt = Output.TABLE,
) -> None:
    """Perform an action on an investigation, as an authority or the respondent, signed with the key of this
    machine's user for that party (or `--user`).

    A procedure's step is named like an action (`enforce actions --procedure eu-gdpr` lists them).

    Example: `enforce act clearview-ai answer-recommendations --as respondent -f 'answers={"R1":"refused"}'`,
    `enforce act whatsapp-ie raise-objection --as cnil-fr -f summary="The fine is too low."`
    """
    from temporalio.service import RPCError, RPCStatusCode

    from domain.errors import BadInput, Rejected
    from enforce import identity, investigations, sealing
    from enforce.connect import client_identity, connect

    rid = _request_id(request_id)
    seconds = _wait_seconds(wait)
    payload = {**_parse_fields(field or [], as_json), "by": actor}
    if to:
        payload["to"] = to
    try:
        parsed = _parse_act(action, payload)
    except BadInput as e:
        raise Failure(str(e), 2) from None
    except Rejected as e:
        raise Failure(str(e), 1) from None

    async def go() -> None:
        try:
            local = identity.user_for(actor, case=slug, user=user)
        except identity.KeyError_ as e:
            raise Failure(str(e)) from None
        client = await connect(identity=client_identity("enforce act", local))
        target = investigations.record_of(slug, parsed)
        try:
            signer = await investigations.signer_for(client, slug, parsed, user)
            result = await investigations.act(client, slug, parsed, request_id=rid, wait=seconds, signer=signer)
        except (investigations.NoUser, identity.KeyError_, sealing.NoSealingKey, investigations.CannotReseal) as e:
            raise Failure(str(e)) from None
        except investigations.Pending as p:
            where = "accepted by the record, not yet completed" if p.accepted else "no worker has taken it yet"
            raise Failure(
                f"{action} pending (request id {rid}): no outcome from {target} within {wait} ({where}); "
                f"it may still be recorded: check with `enforce timeline {slug}`, and retry safely with "
                f"`--request-id {rid}` (the same id never records it twice)",
                PENDING,
            ) from None
        except Rejected as e:
            raise Failure(f"rejected: {e}") from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Failure(await _missing(client, slug, target)) from None
            raise Failure(f"{action}: {e.message}") from None
        if result.action != parsed.name:
            raise Failure(
                f"request id {rid} was already used for {result.action} (events {result.first_seq}-"
                f"{result.last_seq}); nothing new recorded: use a new --request-id for {action}"
            )
        # A procedure's step moves its phase, which `enforce show` gives; the common stage would mislead.
        stage = "" if parsed.name == "step" else f"; stage {result.stage.value if result.stage else '?'}"
        if output == Output.JSON:
            out.print_json(json.dumps({**result.model_dump(mode="json"), "request_id": rid}))
        else:
            out.print(
                plain(
                    f"{action} recorded: {', '.join(result.recorded)} (events {result.first_seq}-"
                    f"{result.last_seq}){stage}; request id {rid}"
                ),
                highlight=False,
            )

    _run(go())


@app.command()
def sign(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    action: ActionArg,
    actor: ActorOpt,
    field: FieldOpt = None,
    as_json: JsonOpt = None,
    to: ToOpt = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="The request id to sign (default: a new one).")
    ] = None,
    user: UserOpt = None,
) -> None:
    """Print an action's fields signed by this machine's user, as one JSON object for the stock CLI's
    `temporal workflow update execute --input`; the workflow it goes to is printed on stderr.

    Example: `temporal workflow update execute --workflow-id investigation-clearview-ai.cai-qc --name concur
    --input "$(enforce sign clearview-ai concur --as cai-qc)"`
    """
    from domain.case import RESPONDENT
    from domain.errors import BadInput, Rejected
    from enforce import identity, investigations

    rid = _request_id(request_id)
    payload = {**_parse_fields(field or [], as_json), "by": actor}
    if to:
        payload["to"] = to
    try:
        parsed = _parse_act(action, payload)
    except BadInput as e:
        raise Failure(str(e), 2) from None
    except Rejected as e:
        raise Failure(str(e), 1) from None
    try:
        signer = identity.user_for(actor, case=slug, user=user)
        if signer is None and user is None and actor == RESPONDENT and parsed.runs_in == "track":
            signer = identity.user_for(parsed.target())
    except identity.KeyError_ as e:
        raise Failure(str(e)) from None
    if signer is None:
        raise Failure(f"no key of {'user ' + repr(user) if user else 'a user for ' + repr(actor)} on this machine")
    if investigations.may_seal(parsed):
        parsed = _run(_sealed_here(slug, parsed, signer, "enforce sign"))
    signed = investigations.signed_payload(slug, parsed, rid, signer)
    err.print(plain(f"{action} for {investigations.record_of(slug, parsed)}, signed by {signer.user}"))
    print(json.dumps(signed, ensure_ascii=False, separators=(",", ":")))


async def _sealed_here(slug: str, parsed, signer: identity.User, command: str):
    """The action with its content between authorities sealed on this machine: who it goes to (and sealed
    evidence to re-seal) is read from the case's record."""
    from temporalio.service import RPCError, RPCStatusCode

    from enforce import investigations, sealing
    from enforce.connect import client_identity, connect
    from workflows.messages import workflow_id

    client = await connect(identity=client_identity(command, signer))
    try:
        return await investigations.sealed(client, slug, parsed, signer)
    except (sealing.NoSealingKey, investigations.CannotReseal) as e:
        raise Failure(str(e)) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(await _missing(client, slug, workflow_id(slug))) from None
        raise Failure(f"{parsed.name}: {e.message}") from None


@app.command()
def actions(
    procedure_id: Annotated[
        str | None,
        typer.Option(
            "--procedure",
            "-p",
            help="Only what a case under this procedure may do: its actions, its steps and its authorities' ids.",
        ),
    ] = None,
) -> None:
    """List the actions of the vocabulary, who may take them, and their fields. With `--procedure`, what a case
    file under that procedure may write: the common actions it keeps, its own steps (`action = "<step>"`), with
    who takes each, when and its fields, and the ids of its authorities.

    Example: `enforce actions`, `enforce actions --procedure eu-gdpr`
    """
    from rich.table import Table

    from domain.actions import ACTIONS, ProcedureStep
    from domain.errors import DataError
    from domain.procedure import known_procedures, load_procedure, role_in

    procedure = None
    if procedure_id is not None:
        try:
            procedure = load_procedure(procedure_id)
        except KeyError:
            raise Failure(
                f"--procedure: unknown procedure {procedure_id!r}; one of {', '.join(known_procedures())}", 2
            ) from None
        except DataError as e:
            raise Failure(str(e), 2) from None
    table = Table(title="Actions (enforce act, update names, case-file steps)", title_justify="left")
    for col in ("action", "record", "who", "fields", "what it does"):
        table.add_column(col)
    for name, cls in ACTIONS.items():
        if procedure is not None and (
            (procedure.actions is not None and name not in procedure.actions)
            or (procedure.steps and cls is ProcedureStep)
        ):
            continue
        fields = [f if info.is_required() else f"[{f}]" for f, info in cls.model_fields.items() if f != "by"]
        who = " or ".join(cls.actors).replace("self", "the track's authority")
        table.add_row(plain(name), plain(cls.runs_in), plain(who), plain(", ".join(fields)), plain(cls.help))
    out.print(table)
    if procedure is None:
        return
    if procedure.steps:
        steps = Table(
            title=f"Steps of {procedure.id} (a case file's `action`; `enforce act <slug> <step>`)", title_justify="left"
        )
        for col in ("step", "by", "when (phases)", "fields", "what it records"):
            steps.add_column(col)
        for key, spec in procedure.steps.items():
            if spec.by == ["system"]:
                continue
            what = f"{spec.label} ({spec.statute})" if spec.statute else spec.label
            steps.add_row(
                plain(key),
                plain(" or ".join(spec.by)),
                plain(", ".join(spec.phases) or "any time"),
                plain(", ".join(spec.requires) or "none"),
                plain(f"{what}. {spec.help}".strip()),
            )
        out.print(steps)
        done = [f"{s.label} ({key})" for key, s in procedure.steps.items() if s.by == ["system"]]
        out.print(plain("Recorded by the record itself when a period ends: " + "; ".join(done)))
    who = Table(title=f"Authorities of {procedure.id} (`lead`, `authorities`, a step's `by`)", title_justify="left")
    for col in ("id", "name", "part", "acts in"):
        who.add_column(col)
    for aid, auth in procedure.authorities.items():
        part = role_in(aid, "", procedure) if auth.role == "board" else "lead, or concerned"
        who.add_row(plain(aid), plain(auth.name), plain(part), plain(", ".join(auth.phases) or "any phase"))
    out.print(who)


@app.command()
def simulate(
    casefiles: Annotated[
        list[Path], typer.Argument(help="Case files with scripted [[steps]], or folders of them (*.toml).")
    ],
    output: OutputOpt = Output.TABLE,
) -> None:
    """Run case files' scripted steps to the end on a time-skipping Temporal, on the cases' own dates.

    One file: its timeline, deadlines and tracks. Several (or a folder): a forecast, per case its outcome and
    the deadlines of all per month per authority, with progress on stderr.

    Example: `enforce simulate cases/clearview.toml -o json`, `enforce simulate cases/`
    """
    from domain.errors import DataError
    from domain.policy import acted_late
    from enforce import forecast, views
    from enforce import simulate as sim

    logs.ensure()  # the workflows run here: their log lines carry their ids as fields from the first one

    try:
        files = forecast.case_files(casefiles)
        cases = forecast.load_all(files)
    except DataError as e:
        raise Failure(str(e), 2) from None
    if len(casefiles) > 1 or casefiles[0].is_dir():
        _run(_forecast(files, cases, output))
        return
    case, procedure = cases[0]

    async def go() -> None:
        with err.status("simulating...") as status:
            try:
                result = await sim.run(case, procedure, progress=lambda m: status.update(plain(f"simulating: {m}")))
            except sim.SimulationError as e:
                raise Failure(str(e)) from None
        if output == Output.JSON:
            out.print_json(json.dumps(simulation_json(result, procedure)))
            return
        views.print_timeline(out, result.events)
        late = acted_late(procedure, result.deadlines, result.events)
        out.print(views.deadlines_table(result.deadlines, None, "Deadlines", late))
        out.print(views.tracks_table(result.state, procedure))
        out.print(plain("stage: ") + plain(result.stage, "bold"))

    _run(go())


async def _forecast(files: list[Path], cases: list, output: Output) -> None:
    from enforce import forecast
    from enforce import simulate as sim

    bar = forecast.Bar(len(cases))
    results = await sim.run_many(cases, progress=lambda m: bar.step(m), done=lambda i, r: bar.case_done(files[i], r))
    found = forecast.forecast(files, results)
    if output == Output.JSON:
        out.print_json(found.model_dump_json())
    else:
        out.print(forecast.cases_table(found))
        out.print(forecast.deadlines_table(found))
    if found.failed:
        raise Failure(f"{found.failed} of {len(found.cases)} cases stopped at a refused step (see the table)")


def simulation_json(result, procedure) -> dict:
    from domain.policy import acted_late

    late = acted_late(procedure, result.deadlines, result.events)
    return {
        "slug": result.slug,
        "stage": result.stage,
        "events": [e.model_dump(mode="json") for e in result.events],
        "deadlines": [
            {**d.model_dump(mode="json", exclude={"version"}), "status": d.label}
            | ({"done_late_on": late[d.deadline_id].on.date().isoformat()} if d.deadline_id in late else {})
            for d in result.deadlines
        ],
        "tracks": {a: t.model_dump(mode="json") for a, t in result.tracks.items()},
    }


@app.command()
def timeline(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    after: Annotated[int, typer.Option(help="Only events after this seq.")] = 0,
    as_party: AsOpt = None,
    until: UntilOpt = None,
    output: OutputOpt = Output.TABLE,
) -> None:
    """Print the joint record's events, in order (from the event store, and the live record for the newest).

    Example: `enforce timeline clearview-ai --after 10`, `enforce timeline clearview-ai --until 2021-06-10`
    """
    from enforce import investigations, views

    day = _day(until, "--until")

    async def go() -> None:
        client = await _client()
        found = await _events(client, slug, after, as_party, upto=day)
        if output == Output.JSON:
            out.print_json(json.dumps([e.model_dump(mode="json") for e in found]))
        else:
            reader = _reader(as_party, slug)

            def content(e) -> str | None:
                text = investigations.sealed_content(e)
                return None if text is None else investigations.open_text(text, reader, as_party)

            views.print_timeline(out, found, content)

    _run(go())


def _reader(party: str | None, slug: str) -> identity.User | None:
    """This machine's user for `party`, whose key opens what is sealed for it (None: no key here)."""
    if not party:
        return None
    from enforce import identity

    try:
        return identity.user_for(party, case=slug)
    except identity.KeyError_ as e:
        raise Failure(str(e)) from None


def _day(text: str | None, option: str):
    from enforce.record import BadDate, parse_day

    if text is None:
        return None
    try:
        return parse_day(text, option)
    except BadDate as e:
        raise Failure(str(e), 2) from None


# Why the server could not be reached, said when the event store alone does not know the case either.
_unreachable: list[str] = []


async def _client():
    """A client, or None when the server cannot be reached: the event store alone then answers."""
    from enforce.connect import Unreachable, connect

    try:
        return await connect()
    except Unreachable as e:
        _unreachable[:] = [str(e)]
        return None


def _not_found(message: str) -> Failure:
    return Failure(_unreachable[0] if _unreachable else message)


async def _read(client, slug: str, record: str | None = None):
    from temporalio.service import RPCError

    from enforce import record as records
    from workflows.messages import workflow_id

    target = record or workflow_id(slug)
    try:
        return await records.read(client, slug, record)
    except records.NotFound:
        where = settings.temporal_address() if client else "the event store (the server is unreachable)"
        if record:
            raise _not_found(f"no record {target} in the event store or on {where}") from None
        raise _not_found(f"no investigation {slug!r} ({target}) in the event store or on {where}") from None
    except RPCError as e:
        raise Failure(f"cannot read {target}: {e.message}") from None


async def _events(
    client, slug: str, after: int = 0, as_party: str | None = None, record: str | None = None, upto=None
) -> list:
    """A record's events (the store's, then the live workflow's newer ones), after `after`, up to `upto`."""
    from enforce import record as records

    found = (await _read(client, slug, record)).events
    found = records.until(found, upto)
    if as_party:
        from domain.state import fold

        found = records.as_party(found, fold(found), as_party)
    return [e for e in found if e.seq > after]


async def _state(client, slug: str, as_party: str | None, day, option: str):
    from temporalio.service import RPCError

    from enforce import record as records
    from workflows.messages import workflow_id

    try:
        view = await records.state(client, slug, as_party, day)
    except records.NotFound:
        where = settings.temporal_address()
        raise _not_found(f"no investigation {slug!r} ({workflow_id(slug)}) in the event store or on {where}") from None
    except RPCError as e:
        raise Failure(f"cannot read {workflow_id(slug)}: {e.message}") from None
    if view.state.stage is None:
        raise Failure(f"{option}: {slug} was not yet open on {day}", 2)
    return view


@app.command()
def export(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    out_file: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")],
    track: Annotated[
        str | None, typer.Option("--track", help="An authority's track instead of the joint record.")
    ] = None,
) -> None:
    """Export a record as JSON Lines, each line carrying the hash of the one before it, and a last line, the
    head: the case, the record, how many events and the last one's hash, and when it was exported.

    Example: `enforce export clearview-ai --out clearview.jsonl`
    """
    from datetime import UTC, datetime

    from domain.chain import export_lines
    from workflows.messages import track_id, workflow_id

    record = track_id(slug, track) if track else workflow_id(slug)

    async def go() -> None:
        client = await _client()
        found = await _events(client, slug, record=record)
        _whole(found, record)
        lines = export_lines(
            (e.model_dump(mode="json") for e in found),
            case=slug,
            record=record,
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _write_atomic(out_file, "".join(line + "\n" for line in lines))
        out.print(plain(f"{len(found)} events of {record} written to {out_file}, with their head"), highlight=False)

    _run(go())


def _whole(events: list, record: str) -> None:
    """A record must be read whole: one that does not start at its first event (a case begun before the event
    store, longer than its run's tail, domain.limits.TAIL_EVENTS) cannot be exported or compared whole."""
    if events and events[0].seq != 1:
        raise Failure(
            f"{record} holds {events[-1].seq} events; the event store lacks its first ones and its run keeps "
            f"only the last {len(events)}: it cannot be exported whole"
        )


def _write_atomic(path: Path, text: str) -> None:
    """All or nothing: a failure leaves no half-written file."""
    try:
        paperwork.write_atomic(path, text)
    except OSError as e:
        raise Failure(f"--out: cannot write {path}: {e.strerror}", 1) from None


# How long `enforce verify` tries the live record when not told to (--live): past this, it verifies offline.
VERIFY_LIVE_TIMEOUT_S = 10
MAX_PROBLEMS_SHOWN = 20


def _read_export(file: Path) -> list[str]:
    from domain.limits import EXPORT_FILE_BYTES_MAX

    try:
        size = file.stat().st_size
        if size > EXPORT_FILE_BYTES_MAX:
            raise Failure(f"{file}: {size} bytes, more than an export may hold ({EXPORT_FILE_BYTES_MAX})", 2)
        data = file.read_bytes()
    except OSError as e:
        raise Failure(f"{file}: {e.strerror}", 2) from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise Failure(f"{file}: a binary file (a NUL byte at offset {nul}), not an export", 2)
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise Failure(f"{file}: not UTF-8 text (byte {e.start}), not an export", 2) from None


async def _live_chain(record: str, slug: str, timeout: float) -> list[str]:
    """The record's own chain: the event store's copy, and the live record's events not yet stored."""
    import asyncio

    from domain.chain import chain
    from enforce import record as records
    from enforce.connect import Unreachable, connect

    try:
        client = await asyncio.wait_for(connect(), timeout)
    except (Unreachable, TimeoutError):
        client = None
    found = await asyncio.wait_for(records.read(client, slug, record), timeout)
    _whole(found.events, record)
    return chain(e.model_dump(mode="json") for e in found.events)


@app.command(
    epilog="Exit status: 0 the file holds (and matches the live record when compared), 1 it does not (the "
    "first line that fails is named), 2 not a readable text file."
)
def verify(
    file: Annotated[Path, typer.Argument(help="A file written by `enforce export`.")],
    live: Annotated[
        bool | None,
        typer.Option(
            "--live/--offline",
            help="Compare with the live record the head names (--live: must; --offline: never). "
            "Default: compare when that record answers, else verify the file alone and say so.",
        ),
    ] = None,
    keyring: Annotated[
        Path | None,
        typer.Option("--keyring", help="Also check every act's signature against this keyring (a JSON line a user)."),
    ] = None,
) -> None:
    """Check an exported record: its hash chain (an edited, dropped or reordered line is named), its head
    (a file cut short, or whose head does not match its lines, is refused), and, when the record answers,
    the file against the live record (an export edited and its hashes recomputed is named by its first line).

    Example: `enforce verify clearview.jsonl`
    """
    import asyncio

    from domain.chain import check, compare
    from workflows.messages import workflow_id as wid

    lines = _read_export(file)
    checked = check(lines)
    if checked.problems:
        for p in checked.problems[:MAX_PROBLEMS_SHOWN]:
            err.print(plain(f"{file}: {p}"), highlight=False)
        if len(checked.problems) > MAX_PROBLEMS_SHOWN:
            err.print(f"{file}: and {len(checked.problems) - MAX_PROBLEMS_SHOWN} more problems", highlight=False)
        raise typer.Exit(1)
    head = checked.head
    assert head is not None
    intact = f"{file}: {head.events} events of {head.record}, chain intact, head matches"
    if head.record != wid(head.case) and not head.record.startswith(wid(head.case) + "."):
        raise Failure(f"{file}: line {head.line}: the head's record {head.record!r} is not of case {head.case!r}")
    if keyring is not None:
        intact += _check_signed(file, lines, keyring, head.case)
    if live is False:
        out.print(plain(f"{intact} (offline: not compared with the live record)"), highlight=False)
        return
    try:
        live_lines = asyncio.run(
            _live_chain(head.record, head.case, ANSWER_TIMEOUT_S if live else VERIFY_LIVE_TIMEOUT_S)
        )
    except Exception as e:  # unreachable, no answer, no such record, a query that failed: say which
        text = str(getattr(e, "message", "") or e or type(e).__name__)
        why = "no answer in time" if isinstance(e, TimeoutError) else " ".join(text.split())[:200]
        if live:
            raise Failure(f"{file}: cannot compare with the live record {head.record}: {why}") from None
        out.print(plain(f"{intact} (offline: {head.record} did not answer: {why})"), highlight=False)
        return
    difference = compare(checked, live_lines)
    if difference:
        raise Failure(f"{file}: {difference} ({head.record})")
    grown = len(live_lines) - head.events
    since = f"; {grown} events recorded since the export" if grown else ""
    out.print(plain(f"{intact}, and matches the live record{since}"), highlight=False)


def _check_signed(file: Path, lines: list[str], keyring: Path, case: str) -> str:
    """Every act's signature in an export, against a keyring: the first line that fails is the error."""
    from domain.signing import check_signatures
    from enforce import identity

    try:
        entries = identity.read_keyring(keyring)
    except identity.KeyError_ as e:
        raise Failure(str(e), 2) from None
    bodies = [(n, json.loads(line)) for n, line in enumerate(lines[:-1], 1)]
    problem = check_signatures(bodies, entries, case)
    if problem:
        raise Failure(f"{file}: {problem}")
    signed = sum(1 for _, b in bodies if b.get("signed"))
    return f", {signed} signed acts verified against {keyring}"


@app.command()
def worker() -> None:
    """Run a worker in the foreground (the same as `python -m worker`); Ctrl-C stops it cleanly.

    Example: `TEMPORAL_ADDRESS=temporal.example:7233 enforce worker`
    """
    import worker as worker_module

    code = worker_module.main()
    if code:
        raise Failure("worker stopped", code)


watching.register(app)
paperwork.register(app)
figures.register(app)


def run() -> None:
    """Entry point: exit with the status the command means.

    A process that used a Temporal client or worker can abort at interpreter exit (sdk-python#300,
    `PyGILState_Release`, status 134), so the status is settled here and the process leaves at once.
    """
    # Configured when something first logs: most commands log nothing, and structlog is slow to import.
    logs.defer(level=os.environ.get("ENFORCE_LOG_LEVEL", "WARNING"))
    try:
        app()  # standalone: usage errors print themselves and raise SystemExit
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Failure as e:
        err.print(plain("error:", "red") + plain(f" {e}"), highlight=False)
        code = e.code
    except KeyboardInterrupt:
        err.print("Interrupted.")
        code = 130
    except Exception as e:  # a bug: still one line, with the traceback on request
        if os.environ.get("ENFORCE_DEBUG"):
            err.print_exception()
        err.print(
            plain("error:", "red") + plain(f" {type(e).__name__}: {e} (set ENFORCE_DEBUG=1 for details)"),
            highlight=False,
        )
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
