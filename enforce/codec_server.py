"""The codec server: POST /encode and /decode for the Web UI and the stock `temporal` CLI (--codec-endpoint).

It opens payloads with the same key set as the worker (enforce.codec), only for a request bearing the token
(`Authorization: Bearer <token>`), and answers CORS only to the one UI origin it is told. Modelled on
temporalio's samples-python encryption/codec_server.py.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from enforce import codec


def token_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "codec-token"


def ensure_token(path: Path) -> str:
    """The bearer token under the data dir (0600), made once."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as f:
        f.write(token + "\n")
    return token


def app(keys: codec.KeySet, token: str, ui_origin: str) -> web.Application:
    payload_codec = codec.EncryptionCodec(keys)

    def cors(resp: web.StreamResponse, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") == ui_origin:
            resp.headers["Access-Control-Allow-Origin"] = ui_origin
            resp.headers["Access-Control-Allow-Methods"] = "POST"
            resp.headers["Access-Control-Allow-Headers"] = "content-type,x-namespace,authorization"
            resp.headers["Access-Control-Allow-Credentials"] = "true"
        return resp

    async def options(request: web.Request) -> web.StreamResponse:
        return cors(web.Response(), request)

    def handler(encode: bool):
        async def handle(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return cors(web.Response(status=401, text="a bearer token is required"), request)
            payloads = json_format.Parse(await request.read(), Payloads())
            try:
                done = await (payload_codec.encode if encode else payload_codec.decode)(payloads.payloads)
            except codec.CodecKeyError as e:
                return cors(web.Response(status=400, text=str(e)), request)
            body = json_format.MessageToJson(Payloads(payloads=done))
            return cors(web.Response(text=body, content_type="application/json"), request)

        return handle

    application = web.Application()
    application.add_routes(
        [
            web.post("/encode", handler(True)),
            web.post("/decode", handler(False)),
            web.options("/decode", options),
            web.options("/encode", options),
        ]
    )
    return application


def main(argv: list[str] | None = None) -> None:
    """`python -m enforce.codec_server --port P --ui-origin http://localhost:8233`, as `enforce dev up` runs it:
    the key set from the one setting (enforce.codec.load_keys), the token under the data dir."""
    import argparse

    from enforce import settings

    parser = argparse.ArgumentParser(prog="python -m enforce.codec_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--ui-origin", required=True, help="The one origin CORS answers, e.g. http://localhost:8233")
    parser.add_argument(
        "--create-keys", action="store_true", help="Create the key set when it is missing (as `enforce dev up` does)."
    )
    args = parser.parse_args(argv)
    if args.create_keys and not os.environ.get("ENFORCE_CODEC_KEY"):
        path, created = codec.ensure_key_file()
        if created:
            print(f"codec server: created the key set {path} (0600)", flush=True)
    try:
        keys = codec.load_keys()
    except codec.CodecKeyError as e:
        raise SystemExit(f"codec server: {e}") from None
    token = ensure_token(token_file(settings.data_dir()))
    print(f"codec server on http://{args.host}:{args.port} for {args.ui_origin}", flush=True)
    web.run_app(app(keys, token, args.ui_origin), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
