"""schemathesis against each service's OpenAPI document, served by a live app.

Every operation is fuzzed (examples, coverage, fuzzing and the stateful phase
that follows the documents' links) with a token of a role that may call it;
the run passes only when no response is a 5xx and every response conforms to
the document (status code, content type, headers, body schema). The run is
deterministic (schemathesis' deterministic generation, which also keeps no example database),
so CI sees the same cases every time.

schemathesis is run as its own process: the services run on this test's event
loop, and a synchronous HTTP client in the same thread would block them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "ignored_auth",
])
MAX_EXAMPLES = os.environ.get("HAVEN_FUZZ_EXAMPLES", "50")
# The live stream never ends by itself: it is tested in tests/integration (SSE), not fuzzed.
EXCLUDED = {"notifications": ["--exclude-path", "/v1/stream"],
            # Ending sessions would end the fuzzer's own session, so every later call would be a 401:
            # tests/integration/test_sessions.py and the authorisation matrix cover them.
            "forum": ["--exclude-path", "/v1/auth/logout", "--exclude-path", "/v1/auth/logout-all"]}
# The role whose token the fuzzer carries: the one that may call the most operations of the service,
# and for forum and notifications a member too (the author's paths: own posts, edits, own notifications).
RUNS = [("forum", "admin"), ("forum", "member"), ("moderation", "admin"), ("notifications", "admin"),
        ("notifications", "member")]


async def run_schemathesis(stack: Stack, service: str, token: str, tmp_path: Path) -> tuple[int, str]:
    client = getattr(stack, service)
    base_url = str(client.make_url("")).rstrip("/")
    command = [
        str(SCHEMATHESIS), "run", str(ROOT / "services" / service / "openapi.yaml"), "--url", base_url,
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", MAX_EXAMPLES, "--generation-deterministic",
        "--workers", "1", "--request-timeout", "10",
        "--no-shrink", "--continue-on-failure", "--no-color", "--warnings", "off",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
        *EXCLUDED.get(service, []),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""})
    output, _ = await process.communicate()
    return process.returncode, output.decode(errors="replace")


async def _seed(stack: Stack) -> None:
    """Something for the stateful phase and the GETs to find: a thread, a reply, a report."""
    author, reader = await stack.register(), await stack.register()
    opened = await stack.start_thread(author, "Day 30 today. Grateful for this place.")
    post_id = opened["post"]["id"]
    await stack.forum.post(f"/v1/posts/{post_id}/reports", json={"reason": "spam"}, headers=reader.auth)


@pytest.mark.integration
@pytest.mark.parametrize(("service", "role"), RUNS, ids=[f"{s}-{r}" for s, r in RUNS])
async def test_every_operation_conforms_and_never_5xx(secure_stack: Stack, service: str, role: str,
                                                      tmp_path: Path) -> None:
    stack = secure_stack
    await _seed(stack)
    user = await stack.staff(role)
    code, output = await run_schemathesis(stack, service, user.token, tmp_path)
    assert code == 0, f"schemathesis found problems in {service} (as {role}):\n{output[-20000:]}"
