"""One way to reach Temporal, shared by the CLI, the worker and the tests: the SDK's environment
configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS*, TEMPORAL_API_KEY, config profiles) and the
one data converter (enforce.codec: pydantic payloads, encrypted)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.envconfig import ClientConfig

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


async def connect(identity: str | None = None) -> Client:
    """A client; `identity` is the name Temporal's history keeps for what it sends (not authenticated: the
    record's signer is what counts)."""
    config = connect_config()
    if identity:
        config["identity"] = identity
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
