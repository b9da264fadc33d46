// JavaScript cell boot: loaded while the container waits in the pool, then runs one cell.
// Reads the header line and the source from stdin (see dockerkernel/protocol.py), runs the
// source as a CommonJS module resolved from /workspace, and reports an uncaught error as an
// `error` frame. `display` (global) sends rich output: display.html(s), display.png(buf), ...
// sendFrame is the only frame encoder besides dockerkernel/wire.py (Node cannot import that);
// tests/unit/test_wire.py runs it on wire.FRAME_VECTORS and compares the bytes.
"use strict";
const fs = require("fs");
const Module = require("module");

function readAllStdin() {
  const chunks = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if (err.code === "EAGAIN") continue;
      if (err.code === "EOF") break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

const input = readAllStdin();
const newline = input.indexOf(10);
const header = JSON.parse(input.subarray(0, newline).toString("utf8"));
const source = input.subarray(newline + 1, newline + 1 + header.size).toString("utf8");
Object.assign(process.env, header.env || {});
process.env.DK_NONCE = header.nonce;

function sendFrame(kind, payload) {
  const body = Buffer.from(JSON.stringify(payload));
  const head = Buffer.from(`\x1bDK ${header.nonce} ${kind} ${body.length}\n`);
  const data = Buffer.concat([head, body]);
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(1, data, offset);
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
    }
  }
}

function bundle(mime, value) {
  return { data: { [mime]: value, "text/plain": `<${mime}>` }, metadata: {}, transient: {} };
}

const display = (obj) => {
  if (obj && typeof obj === "object" && !Buffer.isBuffer(obj) && obj.data) sendFrame("display", { metadata: {}, transient: {}, ...obj });
  else sendFrame("display", { data: { "text/plain": typeof obj === "string" ? obj : require("util").inspect(obj) }, metadata: {}, transient: {} });
};
display.html = (html) => sendFrame("display", bundle("text/html", String(html)));
display.markdown = (md) => sendFrame("display", bundle("text/markdown", String(md)));
display.svg = (svg) => sendFrame("display", bundle("image/svg+xml", String(svg)));
display.latex = (tex) => sendFrame("display", bundle("text/latex", String(tex)));
display.json = (obj) => sendFrame("display", bundle("application/json", obj));
display.png = (buf) => sendFrame("display", bundle("image/png", Buffer.from(buf).toString("base64")));
display.jpeg = (buf) => sendFrame("display", bundle("image/jpeg", Buffer.from(buf).toString("base64")));
display.text = (text) => sendFrame("display", { data: { "text/plain": String(text) }, metadata: {}, transient: {} });
display.update = (id, obj) => sendFrame("update", { metadata: {}, ...obj, transient: { display_id: id } });
display.show = (id, obj) => sendFrame("display", { metadata: {}, ...obj, transient: { display_id: id } });
display.clear = (wait = false) => sendFrame("clear", { wait });
global.display = display;

const filename = "/workspace/cell.js";

function reportError(err) {
  const isError = err instanceof Error;
  const stack = isError && err.stack ? String(err.stack) : String(err);
  const lines = stack.split("\n").filter((line) => !/node:internal|\/opt\/dockerkernel\/|at Module\._compile|node:module/.test(line));
  sendFrame("error", {
    ename: isError ? err.name || "Error" : "Uncaught",
    evalue: isError ? err.message : String(err),
    traceback: lines,
  });
  process.exit(1);
}
// The runner's done pipe: the exit status is announced there as the process exits, so the end
// of the cell does not wait for Node's teardown (see runner.py wait_for_end).
const doneFd = Number(process.env.DK_DONE_FD);
delete process.env.DK_DONE_FD;
process.on("exit", (code) => {
  if (doneFd >= 0) {
    try {
      fs.writeSync(doneFd, `${code}\n`);
    } catch (err) {
      // the runner is gone: nobody to tell
    }
  }
});
process.on("uncaughtException", reportError);
process.on("unhandledRejection", reportError);

const cell = new Module(filename, null);
cell.filename = filename;
cell.paths = Module._nodeModulePaths("/workspace");
cell._compile(source, filename);
