"""The operators' command line: check an endpoint through exactly the code the workers run.

::

    python -m model_adapters kinds
    python -m model_adapters stream KIND --model ID [--base-url URL] [--key-env NAME] [--max-tokens N] "prompt"
    python -m model_adapters stream KIND --model ID --image photo.jpg "What is in this picture?"

``stream`` prints the answer as it arrives on stdout, then the input and
output tokens, time to first token, latency and finish reason on stderr. On
failure it prints the error's class and message on stderr and exits 1 (2 for
a usage mistake, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import registry
from .conversation import AdapterConfig, GenerationSettings, Image, Message, StreamResult, Timeouts
from .errors import AdapterError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m model_adapters``."""
    parser = argparse.ArgumentParser(prog="python -m model_adapters", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("kinds", help="list the adapter kinds")
    stream = commands.add_parser("stream", help="stream one answer to the terminal")
    stream.add_argument("kind", help="adapter kind: " + ", ".join(registry.kinds()))
    stream.add_argument("prompt")
    stream.add_argument("--model", required=True, help="the provider's model id (local: the checkpoint directory)")
    stream.add_argument("--base-url", default="")
    stream.add_argument("--key-env", default="", help="name of the environment variable holding the key")
    stream.add_argument("--key-file", default="", help="path of a file holding the key")
    stream.add_argument("--system", default="", help="a system message to send first")
    stream.add_argument("--image", action="append", default=[], metavar="PATH",
                        help="an image file to send with the prompt (repeatable; PNG and JPEG as they are, "
                        "other formats re-encoded as PNG)")
    stream.add_argument("--max-tokens", type=int, default=256)
    stream.add_argument("--temperature", type=float)
    stream.add_argument("--top-p", type=float)
    stream.add_argument("--seed", type=int)
    stream.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    stream.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an adapter option; VALUE is JSON when it parses, else a string (repeatable)")
    stream.add_argument("--timeout", action="append", default=[], metavar="NAME=SECONDS",
                        help="connect, first_token, stall or total (repeatable)")
    stream.add_argument("--retries", type=int, default=2, help="retries before the first chunk")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command line; return the exit status."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    if args.command == "kinds":
        for spec in registry.SPECS:
            print(f"{spec.kind:<10} {spec.label} (queue: {spec.queue}) — {spec.help}", file=out)
        return 0
    try:
        config, settings, messages = _request(args)
    except (ValueError, AdapterError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=err)
        return 2
    try:
        result = asyncio.run(stream_answer(args.kind, config, messages, settings, out))
    except AdapterError as exc:
        print(f"\nerror: {type(exc).__name__}: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=err)
        return 130
    print(f"\n{summary(result)}", file=err)
    return 0


async def stream_answer(
    kind: str, config: AdapterConfig, messages: list[Message], settings: GenerationSettings, out: TextIO
) -> StreamResult:
    """Stream one answer to ``out`` as it arrives and return its result."""
    adapter = registry.adapter_for(kind, config)
    response = adapter.stream(messages, settings)
    async with response:
        async for chunk in response:
            out.write(chunk)
            out.flush()
    assert response.result is not None
    return response.result


def summary(result: StreamResult) -> str:
    """The one-line report printed after the answer."""
    counted = " (estimated)" if result.tokens_counted else ""
    ttft = f"{result.time_to_first_token:.3f} s" if result.time_to_first_token is not None else "-"
    return (
        f"input tokens: {result.input_tokens}{counted}  output tokens: {result.output_tokens}{counted}  "
        f"time to first token: {ttft}  latency: {result.latency:.3f} s  finish reason: {result.finish_reason}"
    )


def _request(args: argparse.Namespace) -> tuple[AdapterConfig, GenerationSettings, list[Message]]:
    spec = registry.spec_for(args.kind)
    if spec.requires_base_url and not args.base_url:
        raise ValueError(f"the {args.kind} kind needs --base-url")
    timeouts = Timeouts.from_mapping(dict(_pair(item) for item in args.timeout))
    config = AdapterConfig(
        model=args.model, base_url=args.base_url, key_env=args.key_env, key_file=args.key_file,
        options=dict(_option(item) for item in args.option), timeouts=timeouts, max_retries=args.retries,
    )
    settings = GenerationSettings(
        max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, stop=tuple(args.stop),
        seed=args.seed,
    )
    messages = [Message("system", args.system)] if args.system else []
    messages.append(Message("user", args.prompt, tuple(read_image(path) for path in args.image)))
    return config, settings, messages


def read_image(path: str) -> Image:
    """An image file as the adapters take it: PNG and JPEG as they are, anything else Pillow reads as PNG."""
    import io

    import PIL.Image

    try:
        with open(path, "rb") as file:
            data = file.read()
        with PIL.Image.open(io.BytesIO(data)) as picture:
            picture.load()
            if picture.format in ("PNG", "JPEG"):
                return Image(f"image/{picture.format.lower()}", data, picture.width, picture.height)
            buffer = io.BytesIO()
            picture.save(buffer, "PNG")
            return Image("image/png", buffer.getvalue(), picture.width, picture.height)
    except (OSError, PIL.Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read the image {path}: {exc}") from None


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"expected NAME=VALUE, got {item!r}")
    return key.strip(), value.strip()


def _option(item: str) -> tuple[str, Any]:
    key, value = _pair(item)
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value
