"""The MCP test client of tests/mcp.rs: the Python SDK's own stdio client drives `taskmux mcp`.

Usage: python mcp_client.py TASKMUX SOCKET HOME PROJECT

Starts TASKMUX -L SOCKET mcp in PROJECT with TASKMUX_HOME=HOME, initializes, lists the tools,
calls start, status, run_job, a failing inspect and a call with invalid arguments, then status
and ping again. Then, once for each protocol revision the SDK speaks, a session that offers that
revision at initialize: the tools listed, a status call and a call with invalid arguments. It
prints what came back as one JSON object on stdout. The assertions are the Rust test's; this
script only records (it works with the 1.x and 2.x SDKs).
"""

import asyncio
import json
import sys

import mcp.client.session as client_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

# the revisions a session offers in turn (the SDK offers its newest unless told otherwise)
REVISIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


def offer(revision):
    """Makes the SDK's initialize offer `revision` (the name differs between 1.x and 2.x)."""
    for name in ("LATEST_HANDSHAKE_VERSION", "LATEST_PROTOCOL_VERSION"):
        if hasattr(client_session, name):
            setattr(client_session, name, revision)


def dump(model):
    """A result as its wire JSON (camelCase names in either SDK)."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


async def rpc_error(call):
    """The JSON-RPC error a call raised, or what it returned instead."""
    try:
        return {"returned": dump(await call)}
    except Exception as e:  # the SDK's McpError (1.x) or MCPError (2.x)
        err = getattr(e, "error", None)
        return {
            "code": getattr(err, "code", None),
            "message": getattr(err, "message", str(e)),
            "type": type(e).__name__,
        }


async def main(taskmux, socket, home, project):
    params = StdioServerParameters(
        command=taskmux,
        args=["-L", socket, "mcp"],
        env={"TASKMUX_HOME": home, "NO_COLOR": "1"},
        cwd=project,
    )
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            out["initialize"] = dump(await session.initialize())
            out["tools"] = [dump(t) for t in (await session.list_tools()).tools]
            out["start"] = dump(await session.call_tool("start", {}))
            out["status"] = dump(await session.call_tool("status", {}))
            out["run_job"] = dump(
                await session.call_tool(
                    "run_job",
                    {"argv": ["sh", "-c", "echo first line; echo second line; exit 3"], "tag": "mcptest"},
                )
            )
            out["inspect_ghost"] = dump(await session.call_tool("inspect", {"task": "ghost"}))
            out["invalid"] = await rpc_error(session.call_tool("logs", {"lines": "many"}))
            out["unknown_argument"] = await rpc_error(session.call_tool("status", {"verbose": True}))
            out["unknown_tool"] = await rpc_error(session.call_tool("bogus", {}))
            out["after"] = dump(await session.call_tool("status", {}))
            out["ping"] = dump(await session.send_ping())
    default = None
    for name in ("LATEST_HANDSHAKE_VERSION", "LATEST_PROTOCOL_VERSION"):
        default = default or getattr(client_session, name, None)
    out["revisions"] = {}
    for revision in REVISIONS:
        offer(revision)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                got = {"initialize": dump(await session.initialize())}
                got["tools"] = [dump(t) for t in (await session.list_tools()).tools]
                got["status"] = dump(await session.call_tool("status", {}))
                got["invalid"] = await rpc_error(session.call_tool("logs", {"lines": "five"}))
                out["revisions"][revision] = got
    offer(default)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:5]), timeout=120))
