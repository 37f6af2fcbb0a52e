"""The hand-written parts agree with the OpenAPI document they stand beside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import agora_sdk
from agora_sdk._core import parse_bases
from agora_sdk.events import EVENT_TYPES, HeartbeatEvent

DOCUMENT = Path(__file__).resolve().parents[3] / "openapi" / "agora.json"


def test_each_framework_event_decodes_into_the_model_its_content_schema_names():
    schemas = json.loads(DOCUMENT.read_text())["components"]["schemas"]
    mapping = schemas["FrameworkStreamEvent"]["discriminator"]["mapping"]
    # `error` ends the stream: it is raised (StreamEnded), not handed out.
    assert set(EVENT_TYPES) == set(mapping) - {"error"}
    for name, kind in EVENT_TYPES.items():
        event_schema = schemas[mapping[name].rsplit("/", 1)[1]]
        content = event_schema["properties"]["data"].get("contentSchema")
        if content is None:
            assert kind is HeartbeatEvent, name
        else:
            model = kind.__mro__[1]
            assert model.__name__ == content["$ref"].rsplit("/", 1)[1], name


def test_base_urls_are_read_as_the_cli_reads_them():
    assert parse_bases("127.0.0.1:5050/") == ["http://127.0.0.1:5050"]
    assert parse_bases("https://a:1, https://b:2") == ["https://a:1", "https://b:2"]
    assert parse_bases(["http://a:1", "b:2"]) == ["http://a:1", "http://b:2"]
    for bad in ("", "ftp://a:1", "http://a:1/?x=1", " , "):
        with pytest.raises(ValueError):
            parse_bases(bad)


def test_the_package_and_its_example_run_on_python_3_9():
    # This machine has one Python; vermin reads the code for what each construct needs.
    package = Path(agora_sdk.__file__).parent
    example = Path(__file__).resolve().parents[1] / "examples"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vermin"), "-t=3.9-", "--no-tips", "--eval-annotations", "--violations",
         str(package), str(example)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
