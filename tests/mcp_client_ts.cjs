// The MCP TypeScript SDK's client driving `taskmux mcp`, for tests/mcp.rs.
//
// Usage: node mcp_client_ts.cjs NODE_MODULES TASKMUX SOCKET HOME PROJECT
//
// NODE_MODULES holds @modelcontextprotocol/sdk (.ci/run installs it into target/node). For
// each protocol revision, one session whose initialize offers that revision (the SDK's Client
// offers its newest; a transport that rewrites the offer stands for an older client): the
// revision agreed, the tools listed, a status call and a logs call with an argument of the
// wrong type. What came back is printed as one JSON object; the assertions are the Rust
// test's.
"use strict";

const path = require("path");
const { createRequire } = require("module");

const [nodeModules, taskmux, socket, home, project] = process.argv.slice(2);
const sdk = createRequire(path.join(nodeModules, "noop.js"));
const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport, getDefaultEnvironment } = sdk("@modelcontextprotocol/sdk/client/stdio.js");

const REVISIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

// A stdio transport whose initialize offers `revision`, and which keeps the revision agreed.
class Offering extends StdioClientTransport {
  constructor(params, revision) {
    super(params);
    this.revision = revision;
    this.agreed = null;
  }

  async send(message, options) {
    if (message.method === "initialize") {
      message = { ...message, params: { ...message.params, protocolVersion: this.revision } };
    }
    return super.send(message, options);
  }

  setProtocolVersion(version) {
    this.agreed = version;
  }
}

// What a call returned, or the JSON-RPC error it raised.
async function outcome(call) {
  try {
    return { returned: await call };
  } catch (e) {
    return { code: e.code ?? null, message: e.message ?? String(e) };
  }
}

async function session(revision) {
  const transport = new Offering(
    {
      command: taskmux,
      args: ["-L", socket, "mcp"],
      env: { ...getDefaultEnvironment(), TASKMUX_HOME: home, NO_COLOR: "1" },
      cwd: project,
      stderr: "pipe",
    },
    revision,
  );
  const client = new Client({ name: "taskmux-test", version: "0" });
  await client.connect(transport);
  const got = {
    initialize: { protocolVersion: transport.agreed, serverInfo: client.getServerVersion() },
    tools: (await client.listTools()).tools,
    status: await client.callTool({ name: "status", arguments: {} }),
    invalid: await outcome(client.callTool({ name: "logs", arguments: { lines: "five" } })),
  };
  await client.close();
  return got;
}

async function main() {
  const out = { revisions: {} };
  for (const revision of REVISIONS) {
    out.revisions[revision] = await session(revision);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

const timer = setTimeout(() => {
  process.stderr.write("the MCP session did not end within 60 s\n");
  process.exit(3);
}, 60000);
main().then(
  () => clearTimeout(timer),
  (e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  },
);
