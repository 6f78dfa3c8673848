"""One way to reach Temporal, shared by the CLI, the worker and the tests: the SDK's environment
configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS*, TEMPORAL_API_KEY, config profiles) and the
one data converter (enforce.codec: pydantic payloads, encrypted)."""

from __future__ import annotations

import getpass
import os
import socket
import sys

from temporalio.client import Client
from temporalio.envconfig import ClientConfig

from domain.limits import CLIENT_IDENTITY_MAX
from enforce import codec, settings


class Unreachable(Exception):
    def __init__(self, address: str, cause: str):
        self.address = address
        super().__init__(
            f"Temporal is not reachable at {address} ({cause}); start it with `enforce dev up` or set TEMPORAL_ADDRESS"
        )


def connect_config() -> dict:
    config = dict(ClientConfig.load_client_connect_config())
    if not config.get("target_host"):
        # No address from the environment or a config profile: the dev stack started from this folder.
        config["target_host"] = settings.temporal_address()
    config.setdefault("namespace", settings.namespace())
    return config


class NoCodecKeys(Unreachable):
    """No key set to seal and open payloads with: reaching Temporal would be of no use."""

    def __init__(self, cause: codec.CodecKeyError):
        Exception.__init__(self, str(cause))
        self.address = ""


def _command() -> str:
    """`enforce <subcommand>` as this process was started (the worker says `enforce worker`)."""
    words = [a for a in sys.argv[1:] if not a.startswith("-")][:1]
    return " ".join(["enforce", *words])


def client_identity(command: str | None = None, user=None) -> str:
    """What this client calls itself in Temporal's history: the user and party it acts for (an
    `enforce.identity.User`, else the OS user), the command, and the process: `opc:alice (enforce act)
    4242@host`. At most CLIENT_IDENTITY_MAX characters, one line. Not authenticated: any client may say
    anything here; the signer of an act (domain.signing) is what the record relies on."""
    try:
        who = f"{user.party}:{user.user}" if user is not None else getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        who = f"uid {os.getuid()}"
    text = f"{who} ({command or _command()}) {os.getpid()}@{socket.gethostname()}"
    return " ".join(text.split())[:CLIENT_IDENTITY_MAX]


def worker_identity() -> str:
    """A worker's identity: it acts for no party (it records what signed acts decide)."""
    return f"enforce worker {os.getpid()}@{socket.gethostname()}"[:CLIENT_IDENTITY_MAX]


async def connect(identity: str | None = None) -> Client:
    """A client; `identity` is the name Temporal's history keeps for what it sends (`client_identity`, by
    default for this process's command and OS user; not authenticated: the record's signer is what counts)."""
    config = connect_config()
    config["identity"] = (identity or client_identity())[:CLIENT_IDENTITY_MAX]
    address = config.get("target_host", settings.temporal_address())
    try:
        converter = codec.data_converter()
    except codec.CodecKeyError as e:
        raise NoCodecKeys(e) from None
    try:
        return await Client.connect(**config, data_converter=converter)
    except Exception as e:  # the SDK raises RuntimeError with a transport message
        cause = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise Unreachable(address, cause) from None
