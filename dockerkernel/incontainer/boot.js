// JavaScript cell boot: loaded while the container waits in the pool, then runs one cell.
// Reads the header line and the source from stdin (see dockerkernel/protocol.py), runs the
// source as a script in this context (like Node's REPL: `require`, `module`, `__dirname` are
// globals, resolved from /workspace, top-level `await` works), shows the value of a trailing
// expression as `execute_result`, and reports an uncaught error as an `error` frame.
// `display` (global) sends rich output: display.html(s), display.png(buf), ...
//
// State (header "state": true): the previous cells' top-level `var`/`let`/`const`/`function`/
// `class` bindings and the `globalThis` properties they added are restored before the cell
// and saved when the process exits (/workspace/.dockerkernel/javascript-state.bin): values with
// the V8 serializer (structured clone), functions and classes by their source, `require`d
// modules by name. What cannot be carried (a closure over local variables, a socket, ...) is
// named once on stderr. A cell killed by a limit (SIGKILL) never reaches the save.
//
// sendFrame is the only frame encoder besides dockerkernel/wire.py (Node cannot import that);
// tests/sandbox/test_bootjs_frames.py runs it on wire.FRAME_VECTORS and compares the bytes.
"use strict";
const fs = require("fs");
const Module = require("module");
const util = require("util");
const v8 = require("v8");
const vm = require("vm");

let acorn = null;
try {
  acorn = require("acorn"); // Debian's node-acorn (a dependency of nodejs)
} catch (err) {
  // no parser: cells still run, as CommonJS modules, and carry only globalThis properties
}

const STATE_DIR = "/workspace/.dockerkernel";
const STATE_FILE = `${STATE_DIR}/javascript-state.bin`;
const PREVIOUS_FILE = `${STATE_DIR}/javascript-state.previous.bin`; // the one before, see DK_STATE_DISCARD
const SKIPPED_FILE = `${STATE_DIR}/javascript-skipped.json`;
const MAX_STATE = 256 << 20; // a state file larger than this is not read (bytes)
const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;
// (acorn's node kinds that start a new function scope: top-level await stops at them)
const FUNCTION_NODES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

// The header line and the cell's source (header.size bytes) from stdin: what the runner sends.
// Read up to the end of the source, not to end of file: waiting for the runner's close cost
// ~2.5 ms more per cell.
function readCell() {
  const chunks = [];
  let length = 0;
  let wanted = -1; // total bytes once the header line is in
  const buf = Buffer.alloc(1 << 16);
  while (wanted < 0 || length < wanted) {
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
    length += n;
    if (wanted < 0) {
      const joined = Buffer.concat(chunks);
      const newline = joined.indexOf(10);
      if (newline >= 0) {
        let size = NaN;
        try {
          size = Number(JSON.parse(joined.subarray(0, newline).toString("utf8")).size);
        } catch (err) {
          // not a header: read to end of file, the parse below reports it
        }
        wanted = Number.isSafeInteger(size) && size >= 0 ? newline + 1 + size : Infinity;
      }
    }
  }
  return Buffer.concat(chunks);
}

// the inspector session (names of let/const/class bindings, closures) connects while the
// container waits in the pool; no domain is enabled, so the cell runs as fast as without
let pooledSession = null;
try {
  pooledSession = new (require("inspector").Session)();
  pooledSession.connect();
} catch (err) {
  pooledSession = null; // no inspector in this build of Node: connected later, or never
}

// Built-ins by path (`console.log`, `Math`): what a carried `const print = console.log` is made
// again from. Made here, while a pooled container waits for its cell, from the fresh context:
// globals and the data properties of each (getters are not called: some have side effects,
// so `process.stdout` is no path).
const builtinPaths = new Map([[globalThis, "globalThis"]]);
{
  const add = (v, path) => {
    if (v !== null && (typeof v === "object" || typeof v === "function") && !builtinPaths.has(v)) builtinPaths.set(v, path);
  };
  const dataValue = (object, key) => {
    const d = Object.getOwnPropertyDescriptor(object, key);
    return d && "value" in d ? d.value : undefined;
  };
  const names = Object.getOwnPropertyNames(globalThis).filter((n) => IDENTIFIER.test(n));
  for (const name of names) add(dataValue(globalThis, name), name);
  for (const name of names) {
    const top = dataValue(globalThis, name);
    if (top === null || top === globalThis || (typeof top !== "object" && typeof top !== "function")) continue;
    for (const key of Object.getOwnPropertyNames(top)) if (IDENTIFIER.test(key)) add(dataValue(top, key), `${name}.${key}`);
  }
}

// Every cell takes the same paths: acorn's parser, the await rewrite, vm, console.log and
// util.inspect, the inspector's scope query and the v8 serializer of the state. V8 compiles a
// function on its first call, and in a fresh process those first calls cost ~10 ms of a
// trivial cell (measured in the container: 13 ms before this, 9 ms after). Calling
// each once here, while the container waits in the pool, moves that cost out of the cell. Only
// boot's own functions run: nothing a cell could see is created.
function warmPaths() {
  const sample = "var a = 1; let [b, { c }] = [2, { c: 3 }];\nconst f = async (x) => { await x; return `${x}`; };\n" +
    "class K extends Object { #p = 1; m() { return this.#p ?? a; } }\nfor (const i of [b, c]) a += i;\nawait f(a);\na";
  const { Writable } = require("stream");
  const steps = [
    () => {
      const analysed = analyse(sample);
      if (analysed) rewriteAwait(sample, analysed.program);
    },
    () => new vm.Script("(() => { const o = new Map(); try { o.set(\"a\", 1); } catch (e) {} return o; })()",
      { filename: "dockerkernel-warm" }).runInThisContext(),
    // the cell's first console.log would make process.stdout (~5 ms measured in the pool),
    // its first console.error process.stderr
    () => process.stdout,
    () => process.stderr,
    () => new console.Console(new Writable({ write(chunk, encoding, done) { done(); } }))
      .log("%s %d", "hi", 1, { a: [1, "x"], m: new Map([[1, 2]]) }),
    () => util.inspect({ a: [1, "x"], s: new Set([1]) }),
    () => v8.deserialize(v8.serialize({ entries: [{ name: "a", how: "value" }], values: { a: [1, { b: "c" }] } })),
    () => JSON.parse(JSON.stringify({ language: "javascript", carried: { count: 0 } })),
    () => pooledSession && pooledSession.post("Runtime.globalLexicalScopeNames", {}, () => {}),
    () => restoreState(new Map(), true),
    () => saveState(new Map(), true),
    // the state's file paths (open, fstat, read, write, rename, lstat, remove: Node's fs
    // functions are compiled on first use too, ~1.5 ms of a trivial cell), in this container's /tmp
    () => {
      const dir = fs.mkdtempSync("/tmp/.dk-warm-");
      try {
        const path = `${dir}/state.bin`;
        replaceFile(path, v8.serialize({ v: 1, cell: 0, entries: [] }), dir);
        readState(path);
        fs.renameSync(path, `${path}.previous`);
        fs.lstatSync(path, { throwIfNoEntry: false });
        readRegular(`${path}.previous`, 1 << 20).equals(Buffer.alloc(0));
      } finally {
        restored = null;
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  ];
  for (const step of steps) {
    try {
      step();
    } catch (err) {
      // each on its own: a step that fails leaves that path cold, and only slower; the test
      // (tests/sandbox/test_bootjs_frames.py) asks to hear of it, a cell never does
      if (process.env.DK_WARM_CHECK) fs.writeSync(2, `dockerkernel: warm-up step failed: ${err && err.stack}\n`);
    }
  }
}

// the cell: read at the end of the set-up below, which all runs while the container waits
let header = { env: {} };
let source = "";
let keepState = false;

// The cell's stdin (process.stdin, readline): each read asks the notebook, as Python's input()
// does: an `input` frame, then the answer from the pipe in $DK_INPUT_FD (or a line of a %stdin
// file the runner puts there); end of file when nobody can answer. Node reads a real stdin in
// its event loop, where the runner cannot see a read waiting, so the cell asks for itself. A
// read blocks this cell's event loop while the user types, as it would at a terminal.
const answerFd = Number(process.env.DK_INPUT_FD);
function readAnswerLine() {
  const bytes = [];
  const one = Buffer.alloc(1);
  while (answerFd >= 0) {
    let n;
    try {
      n = fs.readSync(answerFd, one, 0, 1, null);
    } catch (err) {
      if (err.code === "EAGAIN") continue;
      break;
    }
    if (n === 0) break;
    bytes.push(one[0]);
    if (one[0] === 10) break;
  }
  return bytes.length ? Buffer.from(bytes) : null;
}
let cellStdin = null;
Object.defineProperty(process, "stdin", {
  configurable: true,
  enumerable: true,
  get() {
    if (cellStdin === null) {
      const { Readable } = require("stream");
      // highWaterMark 0: read (and ask) only when the program wants a line, never ahead
      cellStdin = new Readable({
        highWaterMark: 0,
        read() {
          if (header.stdin && !header.stdin_file) sendFrame("input", { prompt: "", password: false });
          this.push(readAnswerLine()); // null: end of file
        },
      });
      cellStdin.fd = 0;
      cellStdin.isTTY = false;
    }
    return cellStdin;
  },
});

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
  const lines = stack.split("\n").filter((line) => !/node:internal|node:vm|\/opt\/dockerkernel\/|at Module\._compile|node:module|at Script\.runInThisContext/.test(line));
  sendFrame("error", {
    ename: isError ? err.name || "Error" : "Uncaught",
    evalue: isError ? err.message : String(err),
    traceback: lines,
  });
  process.exit(1);
}

// -- the cell's globals: what a CommonJS module would see, resolved from /workspace ----------
const cellModule = new Module(filename, null);
cellModule.filename = filename;
cellModule.paths = Module._nodeModulePaths("/workspace");
const baseRequire = Module.createRequire(filename);
const required = new Map(); // module exports -> the specifier that loaded them (state: by name)
function cellRequire(specifier) {
  const exported = baseRequire(specifier);
  if (exported !== null && (typeof exported === "object" || typeof exported === "function") && !required.has(exported)) {
    required.set(exported, String(specifier));
  }
  return exported;
}
cellRequire.resolve = baseRequire.resolve;
cellRequire.cache = baseRequire.cache;
cellRequire.main = undefined;
cellModule.require = cellRequire;
Object.assign(globalThis, {
  require: cellRequire, module: cellModule, exports: cellModule.exports, __filename: filename, __dirname: "/workspace",
});
// what a fresh context has, the boot's globals included: never the cell's state
const freshGlobals = new Set(Object.getOwnPropertyNames(globalThis));

// -- parsing: declarations, top-level await, the trailing expression --------------------------
function patternNames(node, out) {
  if (!node) return out;
  switch (node.type) {
    case "Identifier": out.push(node.name); break;
    case "ObjectPattern": for (const p of node.properties) patternNames(p.type === "RestElement" ? p.argument : p.value, out); break;
    case "ArrayPattern": for (const e of node.elements) patternNames(e, out); break;
    case "RestElement": patternNames(node.argument, out); break;
    case "AssignmentPattern": patternNames(node.left, out); break;
    default: break;
  }
  return out;
}

function hasTopLevelAwait(node) {
  if (!node || typeof node.type !== "string") return false;
  if (node.type === "AwaitExpression" || (node.type === "ForOfStatement" && node.await)) return true;
  if (FUNCTION_NODES.has(node.type)) return false;
  for (const key of Object.keys(node)) {
    const child = node[key];
    if (Array.isArray(child)) {
      if (child.some((c) => c && hasTopLevelAwait(c))) return true;
    } else if (child && typeof child === "object" && typeof child.type === "string" && hasTopLevelAwait(child)) {
      return true;
    }
  }
  return false;
}

// {declared: Map name -> "const"|"let"|"class"|"var"|"function", program, tla} or null (no parser, syntax error)
function analyse(text) {
  if (!acorn) return null;
  let program;
  try {
    program = acorn.parse(text, { ecmaVersion: "latest", sourceType: "script", allowAwaitOutsideFunction: true, allowHashBang: true, locations: true });
  } catch (err) {
    return null; // V8 reports the syntax error itself, or runs what acorn does not know
  }
  const declared = new Map();
  const lines = new Map(); // name -> line of the cell its definition starts on (for tracebacks later)
  for (const node of program.body) {
    if (node.type === "VariableDeclaration") {
      for (const d of node.declarations) {
        for (const name of patternNames(d.id, [])) {
          declared.set(name, node.kind);
          if (d.id.type === "Identifier" && d.init) lines.set(name, d.init.loc.start.line);
        }
      }
    } else if (node.type === "FunctionDeclaration" && node.id) {
      declared.set(node.id.name, "function");
      lines.set(node.id.name, node.loc.start.line);
    } else if (node.type === "ClassDeclaration" && node.id) {
      declared.set(node.id.name, "class");
      lines.set(node.id.name, node.loc.start.line);
    }
  }
  return { declared, lines, program, tla: program.body.some(hasTopLevelAwait) };
}

// A cell with top-level await becomes an async function whose declarations are hoisted out as
// `var` (so they outlive it) and whose trailing expression is returned. Line numbers are kept.
function rewriteAwait(text, program) {
  const edits = []; // [start, end, replacement]
  const hoisted = [];
  const exposed = [];
  const slice = (node) => text.slice(node.start, node.end);
  const keepLines = (start, end, replacement) => {
    const lost = (text.slice(start, end).match(/\n/g) || []).length - (replacement.match(/\n/g) || []).length;
    return replacement + "\n".repeat(Math.max(0, lost));
  };
  program.body.forEach((node, index) => {
    if (node.type === "VariableDeclaration") {
      const parts = [];
      for (const d of node.declarations) {
        hoisted.push(...patternNames(d.id, []));
        if (d.init) parts.push(`(${slice(d.id)} = ${slice(d.init)})`);
      }
      edits.push([node.start, node.end, keepLines(node.start, node.end, parts.length ? `void (${parts.join(", ")});` : ";")]);
    } else if (node.type === "FunctionDeclaration" && node.id) {
      hoisted.push(node.id.name);
      exposed.push(node.id.name); // hoisted inside the wrapper too: copied out at its start
    } else if (node.type === "ClassDeclaration" && node.id) {
      hoisted.push(node.id.name);
      edits.push([node.start, node.start, `${node.id.name} = `], [node.end, node.end, ";"]);
    } else if (index === program.body.length - 1 && node.type === "ExpressionStatement") {
      edits.push([node.start, node.start, "return ("], [node.expression.end, node.expression.end, ")"]);
    }
  });
  let out = text;
  for (const [start, end, replacement] of edits.sort((a, b) => b[0] - a[0] || b[1] - a[1])) {
    out = out.slice(0, start) + replacement + out.slice(end);
  }
  const copies = exposed.map((name) => `globalThis[${JSON.stringify(name)}] = ${name};`).join(" ");
  const vars = hoisted.length ? `\n;var ${[...new Set(hoisted)].join(", ")};` : "";
  return `(async () => { ${copies}${out}\n})()${vars}`;
}

// -- state ----------------------------------------------------------------------------------
function readRegular(path, limit) {
  // the workspace belongs to the cells: never follow a link, never block on a FIFO, never read unbounded
  let fd;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    return null;
  }
  try {
    const info = fs.fstatSync(fd);
    if (!info.isFile() || info.size > limit) return null;
    const buf = Buffer.alloc(info.size);
    let got = 0;
    while (got < info.size) {
      const n = fs.readSync(fd, buf, got, info.size - got, null);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function replaceFile(path, data, dir = STATE_DIR) {
  fs.mkdirSync(dir, { recursive: true });
  // a name no leftover can block (pids repeat in every container; O_EXCL guards the rest);
  // not crypto: loading it costs more than the whole save
  const tmp = `${path}.${process.hrtime.bigint().toString(16)}${Math.random().toString(16).slice(2)}.tmp`;
  try {
    fs.writeFileSync(tmp, data, { flag: "wx", mode: 0o600 });
    fs.renameSync(tmp, path);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch (ignored) {
      // nothing was written
    }
    throw err;
  }
}

const previous = { entries: [] }; // what the last cells carried (decl kinds survive cells that do not redeclare)
const restoredFunctions = new WeakSet(); // made from source at global scope: no closure to check
const restoreFailed = new Set();
const skipped = {}; // name -> why it is not carried

let rotate = false; // the state file is a good one: the save keeps it as the previous one
let restored = null; // {cell, blob}: the state file as this cell's restore read it
function readState(path) {
  const blob = readRegular(path, MAX_STATE);
  if (!blob) return null;
  const state = v8.deserialize(blob);
  if (!state || !Array.isArray(state.entries)) return null;
  restored = { cell: state.cell, blob };
  return state;
}

// `dry`: return at once (the pool-time warm-up: V8 compiles the whole function on its first call)
function restoreState(declaredHere, dry = false) {
  if (dry) return;
  // a state saved by a cell that a limit then ended (the kernel lists them) is passed over
  const discard = new Set(String((header.env || {}).DK_STATE_DISCARD || "").split(",").filter(Boolean).map(Number));
  let state;
  try {
    state = readState(STATE_FILE);
    rotate = state !== null && !discard.has(state.cell);
    if (state === null || discard.has(state.cell)) {
      state = readState(PREVIOUS_FILE); // also when a save was killed between its two renames
      if (state !== null && discard.has(state.cell)) state = null;
      restored = null; // the state file is not that one: the save writes it
    }
    if (state === null) return;
  } catch (err) {
    process.stderr.write(`dockerkernel: the previous cells' variables could not be restored (${err.message})\n`);
    return;
  }
  previous.entries = state.entries;
  const values = state.values || {};
  const lines = [];
  const byName = new Map();
  // definitions and modules first (an instance needs its class), each group in its original order
  const ordered = [...state.entries.filter((e) => e && e.how !== "value"), ...state.entries.filter((e) => e && e.how === "value")];
  for (const entry of ordered) {
    if (!entry || typeof entry.name !== "string" || !IDENTIFIER.test(entry.name)) continue;
    if (declaredHere.has(entry.name)) continue; // the cell declares it again: its own wins, no clash
    byName.set(entry.name, entry);
    const call = `__dk_restore(${JSON.stringify(entry.name)})`;
    if (entry.decl === "const") lines.push(`const ${entry.name} = ${call};`);
    else if (entry.decl === "let" || entry.decl === "class") lines.push(`let ${entry.name} = ${call};`);
    else lines.push(`globalThis[${JSON.stringify(entry.name)}] = ${call};`);
  }
  let prototypesSet = false;
  globalThis.__dk_restore = (name) => {
    const entry = byName.get(name);
    try {
      if (entry.how === "source") {
        // global scope: sees the globals, as it did; named and placed as in its cell, so a
        // traceback through it says `Cell In[3]:2`
        const placed = Number.isInteger(entry.cell) && Number.isInteger(entry.line) && entry.line > 0 && entry.line < 100000;
        const made = vm.runInThisContext(`${placed ? "\n".repeat(entry.line - 1) : ""}(${entry.source}\n)`,
          { filename: placed ? `Cell In[${entry.cell}]` : "an earlier cell" });
        restoredFunctions.add(made);
        return made;
      }
      if (entry.how === "made") return reviveFunction(entry.fn);
      if (entry.how === "module") return cellRequire(entry.spec);
      if (entry.how === "member") return cellRequire(entry.spec)[entry.key];
      if (!prototypesSet) {
        // every definition is restored by now (they come first): instances get their classes back
        prototypesSet = true;
        const classes = new Map(Array.isArray(state.prototypes) ? state.prototypes : []);
        walkObjects(values, (object, index) => {
          const cls = classes.has(index) ? (0, eval)(String(classes.get(index))) : null;
          if (typeof cls === "function") Object.setPrototypeOf(object, cls.prototype);
        });
        reviveMarkedFunctions(values, (key, err) => {
          process.stderr.write(`dockerkernel: a function kept in ${key} could not be made again (${err.message})\n`);
        });
      }
      return values[name];
    } catch (err) {
      restoreFailed.add(name);
      skipped[name] = `could not be restored (${err && err.name}: ${err && err.message})`;
      return undefined;
    }
  };
  try {
    if (lines.length) vm.runInThisContext(lines.join("\n"), { filename: "dockerkernel-restore" });
  } catch (err) {
    process.stderr.write(`dockerkernel: the previous cells' variables could not be restored (${err.name}: ${err.message})\n`);
  } finally {
    delete globalThis.__dk_restore;
  }
}

let inspectorSession = null;
function post(method, params) {
  // the inspector answers synchronously on the main thread
  let answer = null;
  let failure = null;
  inspectorSession.post(method, params, (err, result) => {
    failure = err;
    answer = result;
  });
  if (failure) throw failure;
  return answer;
}

function session() {
  if (!inspectorSession && pooledSession) inspectorSession = pooledSession;
  if (!inspectorSession) {
    const inspector = require("inspector");
    inspectorSession = new inspector.Session();
    inspectorSession.connect();
  }
  return inspectorSession;
}

function closesOverLocals(fn) {
  // [[Scopes]] beyond Script and Global: the function needs variables a new context will not have
  session();
  globalThis.__dk_probe = fn;
  try {
    const { result } = post("Runtime.evaluate", { expression: "globalThis.__dk_probe" });
    const own = post("Runtime.getProperties", { objectId: result.objectId, ownProperties: true });
    const scopes = (own.internalProperties || []).find((p) => p.name === "[[Scopes]]");
    if (!scopes) return false;
    const chain = post("Runtime.getProperties", { objectId: scopes.value.objectId, ownProperties: true });
    return chain.result.some((p) => !/^(Global|Script)\b/.test(String(p.value && p.value.description)));
  } finally {
    delete globalThis.__dk_probe;
    post("Runtime.releaseObjectGroup", { objectGroup: "" });
  }
}

// -- functions that are not plain top-level definitions ---------------------------------------
// A closure carries its closed-over variables (read through the inspector's [[Scopes]], values
// that the serializer takes), a bound function its target, `this` and arguments, a built-in
// (`const print = console.log`) its path; each is made again before the next cell runs. Two
// closures that shared a variable get a copy each (the inspector shows values, not the scope).
class NotCarried extends Error {}

const MAX_FUNCTION_DEPTH = 4; // closures over closures over ... (each level is one more walk)
function pathOf(value) {
  return builtinPaths.get(value);
}

function materialize(remote) {
  // the inspector's RemoteObject as the value it names (this process's own heap)
  if (remote.objectId) {
    post("Runtime.callFunctionOn", { objectId: remote.objectId, functionDeclaration: "function () { globalThis.__dk_value = this; }" });
    const value = globalThis.__dk_value;
    delete globalThis.__dk_value;
    return value;
  }
  if (remote.unserializableValue !== undefined) return (0, eval)(remote.unserializableValue.replace(/n$/, "n"));
  return remote.value;
}

function inspectFunction(fn) {
  // { bound: { target, thisArg, args } } or { scopes: [{ description, vars: {name: value} }, ...] }
  // (outermost first)
  session();
  globalThis.__dk_probe = fn;
  try {
    const { result } = post("Runtime.evaluate", { expression: "globalThis.__dk_probe" });
    const own = post("Runtime.getProperties", { objectId: result.objectId, ownProperties: true });
    const internal = new Map((own.internalProperties || []).map((p) => [p.name, p.value]));
    if (internal.has("[[TargetFunction]]")) {
      return { bound: { target: materialize(internal.get("[[TargetFunction]]")),
        thisArg: materialize(internal.get("[[BoundThis]]") || { value: undefined }),
        args: [...(materialize(internal.get("[[BoundArgs]]") || { value: [] }) || [])] } };
    }
    const scopes = [];
    if (internal.has("[[Scopes]]")) {
      const chain = post("Runtime.getProperties", { objectId: internal.get("[[Scopes]]").objectId, ownProperties: true });
      for (const p of chain.result) {
        if (!p.value || /^(Global|Script)\b/.test(String(p.value.description))) continue;
        const scope = materialize(p.value); // { description, object: {name: value} }
        scopes.unshift({ description: String(p.value.description), vars: { ...((scope && scope.object) || {}) } });
      }
    }
    return { scopes };
  } finally {
    delete globalThis.__dk_probe;
    post("Runtime.releaseObjectGroup", { objectGroup: "" });
  }
}

function functionExpression(text) {
  // the source as an expression: itself, or a method shorthand (`sayHello() {...}`) taken out of
  // an object literal
  try {
    new vm.Script(`(${text}\n)`);
    return `(${text}\n)`;
  } catch (err) {
    try {
      new vm.Script(`({${text}\n})`);
      return `((o) => o[Object.keys(o)[0]])({${text}\n})`;
    } catch (failure) {
      throw new NotCarried("function whose source is not an expression");
    }
  }
}

function plainValue(value, what) {
  // a value the serializer keeps as it is: no function, no instance of a class it would lose
  let foreign = null;
  walkObjects({ value }, (object) => {
    const proto = Object.getPrototypeOf(object);
    if (!foreign && !PLAIN_PROTOTYPES.has(proto)) foreign = (proto && proto.constructor && proto.constructor.name) || "object";
  }, true);
  if (foreign) throw new NotCarried(`${what} is a ${foreign} instance, or holds one`);
  try {
    v8.serialize(value);
  } catch (err) {
    throw new NotCarried(`${what} cannot be cloned (${err.message})`);
  }
  return { how: "value", value };
}

function describeValue(value, depth, what) {
  return typeof value === "function" ? describeFunction(value, depth + 1, what) : plainValue(value, what);
}

function describeFunction(fn, depth = 0, what = "it") {
  // how to make fn again in a new context; throws NotCarried (with the reason) when it cannot be
  if (depth > MAX_FUNCTION_DEPTH) throw new NotCarried("functions nested too deeply in closures");
  const path = pathOf(fn);
  if (path) return { how: "path", path };
  const inspected = inspectFunction(fn);
  if (inspected.bound) {
    const { target, thisArg, args } = inspected.bound;
    let boundThis;
    if (thisArg === target) boundThis = { how: "target" };
    else if (thisArg === undefined || thisArg === null || pathOf(thisArg)) boundThis = thisArg == null ? { how: "value", value: thisArg } : { how: "path", path: pathOf(thisArg) };
    else boundThis = describeValue(thisArg, depth, "its bound this");
    return { how: "bound", target: describeFunction(target, depth + 1, "its target"), thisArg: boundThis,
      args: args.map((a, i) => describeValue(a, depth, `its bound argument ${i + 1}`)) };
  }
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(text)) throw new NotCarried("built-in function (no source to carry)");
  const expression = functionExpression(text);
  if (restoredFunctions.has(fn) || !inspected.scopes.length) return { how: "source", expression };
  closures.push({ owner: describing, scopes: inspected.scopes });
  const scopes = inspected.scopes.map(({ vars }) => Object.entries(vars).map(([name, value]) => {
    if (!IDENTIFIER.test(name) || name === "arguments" || name.startsWith("__dk_")) throw new NotCarried(`closes over ${name}`);
    return [name, value === fn ? { how: "self" } : describeValue(value, depth, `its closed-over ${name}`)];
  }));
  return { how: "closure", expression, scopes };
}

function reviveValue(desc) {
  return desc.how === "value" ? desc.value : reviveFunction(desc);
}

function reviveFunction(desc) {
  switch (desc.how) {
    case "path":
      if (!/^[\p{ID_Start}$_][\p{ID_Continue}$]*(\.[\p{ID_Start}$_][\p{ID_Continue}$]*)?$/u.test(desc.path)) throw new Error("bad path");
      return (0, eval)(desc.path);
    case "source": {
      const made = vm.runInThisContext(desc.expression, { filename: "an earlier cell" });
      restoredFunctions.add(made); // made at global scope: no closure to look for next time
      return made;
    }
    case "bound": {
      const target = reviveFunction(desc.target);
      return target.bind(desc.thisArg.how === "target" ? target : reviveValue(desc.thisArg), ...desc.args.map(reviveValue));
    }
    case "closure": {
      // one arrow per scope, outermost first, each declaring that scope's variables again
      let open = "";
      let close = "";
      const self = [];
      desc.scopes.forEach((vars, i) => {
        const lets = vars.map(([name, value], j) => {
          if (value.how === "self") self.push(name);
          return `let ${name} = ${value.how === "self" ? "undefined" : `globalThis.__dk_s[${i}][${j}]`};`;
        });
        open += `(() => { ${lets.join(" ")} return `;
        close = "; })()" + close;
      });
      const made = `(() => { const __dk_f = ${desc.expression}; ${self.map((n) => `${n} = __dk_f;`).join(" ")} return __dk_f; })()`;
      // the values come through a global, not a parameter: a parameter the arrows used would
      // be one more closed-over variable of the function made
      globalThis.__dk_s = desc.scopes.map((vars) => vars.map(([, value]) => (value.how === "self" ? undefined : reviveValue(value))));
      try {
        return vm.runInThisContext(`${open}${made}${close}`, { filename: "an earlier cell" });
      } finally {
        delete globalThis.__dk_s;
      }
    }
    default:
      throw new Error(`unknown kind ${desc.how}`);
  }
}

// Closures described in this save: two whose scopes look the same (same kind, names and values)
// may share their variables, which a copy each would silently split: neither is carried.
let describing = ""; // the top-level name whose value is being described
let closures = [];
function sharedClosures() {
  const same = (a, b) => a.description === b.description && Object.keys(a.vars).length === Object.keys(b.vars).length &&
    Object.keys(a.vars).every((k) => Object.prototype.hasOwnProperty.call(b.vars, k) && Object.is(a.vars[k], b.vars[k]));
  const owners = new Map(); // owner -> the other owner it may share with
  for (let i = 0; i < closures.length; i += 1) {
    for (let j = i + 1; j < closures.length; j += 1) {
      const [a, b] = [closures[i], closures[j]];
      if (a.scopes.some((x) => Object.keys(x.vars).length && b.scopes.some((y) => same(x, y)))) {
        if (!owners.has(a.owner)) owners.set(a.owner, b.owner);
        if (!owners.has(b.owner)) owners.set(b.owner, a.owner);
      }
    }
  }
  return owners;
}

const FUNCTION_MARK = "__dk_function";
function markFunctions(value, what) {
  // a function kept in a plain object or array (`{ sayHello() {...} }`) is replaced by a mark
  // with its description (the process ends after the save: nobody sees the change)
  describing = what;
  walkObjects({ value }, (object) => {
    const proto = Object.getPrototypeOf(object);
    if ((proto !== Object.prototype && proto !== Array.prototype && proto !== null) || Object.isFrozen(object)) return;
    for (const key of Object.keys(object)) {
      const d = Object.getOwnPropertyDescriptor(object, key);
      if (!d || !("value" in d) || typeof d.value !== "function") continue;
      let desc;
      try {
        desc = describeFunction(d.value, 1, `${what}.${key}`);
      } catch (err) {
        if (err instanceof NotCarried) throw new NotCarried(`${what}.${key}: ${err.message}`);
        throw err;
      }
      object[key] = { [FUNCTION_MARK]: desc };
    }
  }, true);
}

function reviveMarkedFunctions(root, failed) {
  walkObjects(root, (object) => {
    for (const key of Object.keys(object)) {
      const v = object[key];
      if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype && Object.prototype.hasOwnProperty.call(v, FUNCTION_MARK)) {
        try {
          object[key] = reviveFunction(v[FUNCTION_MARK]);
        } catch (err) {
          object[key] = undefined;
          failed(key, err);
        }
      }
    }
  });
}

const PLAIN_PROTOTYPES = new Set([
  Object.prototype, Array.prototype, null, Map.prototype, Set.prototype, Date.prototype, RegExp.prototype,
  ArrayBuffer.prototype, DataView.prototype, Boolean.prototype, Number.prototype, String.prototype, BigInt.prototype,
  Error.prototype, EvalError.prototype, RangeError.prototype, ReferenceError.prototype, SyntaxError.prototype,
  TypeError.prototype, URIError.prototype, Buffer.prototype,
  ...[Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
    Float64Array, BigInt64Array, BigUint64Array].map((t) => t.prototype),
]);

const LEAVES = [ArrayBuffer, DataView, Date, RegExp, Error, Boolean, Number, String, BigInt, Buffer, Uint8Array,
  Object.getPrototypeOf(Uint8Array)]; // no object inside them survives the serializer (or none is walked)

// Calls visit(object, index) for every object reachable from root's values (root excluded), once
// each, depth first, children in the serializer's order: own enumerable keys, Map entries, Set
// values. Run on a value and on its deserialized clone, the indexes name the same objects.
function walkObjects(root, visit, includeRoot = false) {
  const seen = new Set();
  const stack = [root];
  let index = 0;
  while (stack.length) {
    const object = stack.pop();
    if (seen.has(object)) continue;
    seen.add(object);
    if (object !== root || includeRoot) visit(object, index++);
    if (LEAVES.some((type) => object instanceof type)) continue;
    const children = [];
    if (object instanceof Map) {
      for (const [key, value] of object) children.push(key, value);
    } else if (object instanceof Set) {
      for (const value of object) children.push(value);
    }
    if (!(object instanceof Map) && !(object instanceof Set)) {
      for (const key of Object.keys(object)) {
        let value;
        try {
          value = object[key];
        } catch (err) {
          continue;
        }
        children.push(value);
      }
    }
    for (let i = children.length - 1; i >= 0; i -= 1) {
      const child = children[i];
      if (child !== null && typeof child === "object") stack.push(child);
    }
  }
}

// `dry`: everything but the write and the frame (the pool-time warm-up, over a fresh context)
function saveState(declaredHere, dry = false) {
  const started = process.hrtime.bigint();
  closures = [];
  const kinds = new Map(previous.entries.map((e) => [e.name, e.decl]));
  for (const [name, kind] of declaredHere) kinds.set(name, kind);
  let lexical = [];
  try {
    session();
    lexical = post("Runtime.globalLexicalScopeNames", {}).names || [];
  } catch (err) {
    lexical = [];
  }
  const names = [];
  for (const name of lexical) if (IDENTIFIER.test(name) && !name.startsWith("__dk_")) names.push([name, kinds.get(name) === "const" ? "const" : kinds.get(name) === "class" ? "class" : "let"]);
  const lexicalSet = new Set(lexical);
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (freshGlobals.has(name) || lexicalSet.has(name) || name.startsWith("__dk_") || !IDENTIFIER.test(name)) continue;
    names.push([name, "global"]);
  }
  // one compiled getter for every lexical binding (one left uninitialised by a failed cell throws)
  const getter = `(() => { const o = new Map(); ${names.filter(([, d]) => d !== "global").map(([n]) => `try { o.set(${JSON.stringify(n)}, ${n}); } catch (e) {}`).join(" ")} return o; })()`;
  const lexicalValues = vm.runInThisContext(getter);
  const members = new Map(); // value -> [specifier, key] for values taken out of required modules
  for (const [exported, spec] of required) {
    if (exported && typeof exported === "object") {
      for (const key of Object.keys(exported)) {
        let member;
        try {
          member = exported[key];
        } catch (err) {
          continue; // a getter that throws
        }
        if (member !== null && (typeof member === "object" || typeof member === "function") && !members.has(member)) members.set(member, [spec, key]);
      }
    }
  }
  const entries = [];
  const values = {};
  const sources = new Map(); // class/function value -> name (for instances of carried classes)
  const pending = [];
  for (const [name, decl] of names) {
    let value;
    if (decl === "global") value = globalThis[name];
    else if (lexicalValues.has(name)) value = lexicalValues.get(name);
    else continue; // declared but never initialised
    if (value === undefined && restoreFailed.has(name)) continue; // stays named in `skipped`
    delete skipped[name];
    const entry = { name, decl };
    if (value !== null && (typeof value === "object" || typeof value === "function") && required.has(value)) {
      Object.assign(entry, { how: "module", spec: required.get(value) });
    } else if (value !== null && (typeof value === "object" || typeof value === "function") && members.has(value)) {
      const [spec, key] = members.get(value);
      Object.assign(entry, { how: "member", spec, key });
    } else if (typeof value === "function") {
      const text = Function.prototype.toString.call(value);
      let plain = false;
      try {
        new vm.Script(`(${text}\n)`);
        plain = !/\{\s*\[native code\]\s*\}$/.test(text) && (restoredFunctions.has(value) || !closesOverLocals(value)) && !pathOf(value);
      } catch (err) {
        plain = false; // a method shorthand: described below
      }
      if (!plain) {
        // a closure, a bound function, a built-in by its path, a method: made again from its description
        try {
          describing = name;
          Object.assign(entry, { how: "made", fn: describeFunction(value, 0, name) });
        } catch (err) {
          if (!(err instanceof NotCarried)) throw err;
          skipped[name] = err.message;
          continue;
        }
        entries.push(entry);
        continue;
      }
      Object.assign(entry, { how: "source", source: text });
      if (restoredFunctions.has(value)) {
        const before = previous.entries.find((e) => e && e.name === name);
        if (before) Object.assign(entry, { cell: before.cell, line: before.line });
      } else if (analysis && analysis.lines.has(name)) {
        Object.assign(entry, { cell: Number(header.execution_count) || 0, line: analysis.lines.get(name) });
      }
      sources.set(value, name);
    } else if (value !== null && typeof value === "object" && pathOf(value)) {
      Object.assign(entry, { how: "made", fn: { how: "path", path: pathOf(value) } }); // `const terminal = console`
    } else {
      entry.how = "value";
      pending.push([entry, value]);
    }
    entries.push(entry);
  }
  // objects whose prototype the serializer would lose: an instance of a carried class keeps it
  // (by its place in a walk that is the same after deserializing), any other makes its variable
  // not carried rather than silently a plain object
  const classOf = (object) => {
    const proto = Object.getPrototypeOf(object);
    if (PLAIN_PROTOTYPES.has(proto)) return null;
    const ctor = proto && Object.prototype.hasOwnProperty.call(proto, "constructor") ? proto.constructor : null;
    return ctor && sources.has(ctor) ? sources.get(ctor) : { foreign: (ctor && ctor.name) || "object" };
  };
  const drop = new Set();
  for (const [entry, value] of pending) {
    // the class check first: a Node object (a socket) holds internal functions whose
    // description fails in a different place from run to run, and its reason would vary
    let foreign = null;
    walkObjects({ value }, (object) => {
      const cls = classOf(object);
      if (cls && typeof cls === "object" && !foreign) foreign = cls.foreign;
    }, true);
    if (foreign) {
      skipped[entry.name] = `${foreign} instance, or holds one (only classes defined in cells are carried)`;
      drop.add(entry.name);
      continue;
    }
    try {
      markFunctions(value, entry.name);
    } catch (err) {
      if (!(err instanceof NotCarried)) throw err;
      skipped[entry.name] = err.message;
      drop.add(entry.name);
      continue;
    }
    values[entry.name] = value;
  }
  for (const [owner, other] of sharedClosures()) {
    skipped[owner] = `its functions may share closed-over variables${other === owner ? "" : ` with ${other}`} (a copy each would split them)`;
    drop.add(owner);
    delete values[owner];
  }
  try {
    v8.serialize(values); // all at once keeps shared references shared
  } catch (err) {
    for (const name of Object.keys(values)) {
      try {
        v8.serialize(values[name]);
      } catch (failure) {
        skipped[name] = `cannot be cloned (${failure.message})`;
        drop.add(name);
        delete values[name];
      }
    }
  }
  const prototypes = [];
  walkObjects(values, (object, index) => {
    const cls = classOf(object);
    if (typeof cls === "string") prototypes.push([index, cls]);
  });
  const cell = Number(header.execution_count) || 0;
  const kept = entries.filter((e) => !drop.has(e.name));
  let blob = v8.serialize({ v: 1, cell, entries: kept, values, prototypes });
  if (dry) return;
  // what the state file already holds (saved by the cell it names) is not written again: a
  // cell that changed nothing costs no rename and no write (a discarded cell number falls back
  // to the state before it, which is this very content)
  const same = restored !== null && restored.cell !== cell &&
    v8.serialize({ v: 1, cell: restored.cell, entries: kept, values, prototypes }).equals(restored.blob);
  if (same) blob = restored.blob;
  else if (rotate) {
    try {
      fs.renameSync(STATE_FILE, PREVIOUS_FILE); // killed right after: the restore takes the previous one
    } catch (err) {
      // no state file (any more): nothing to keep
    }
  }
  if (!same) replaceFile(STATE_FILE, blob);
  announceSkipped();
  const count = (how) => kept.filter((e) => e.how === how).length;
  sendFrame("state", {
    language: "javascript",
    carried: { count: kept.length, bytes: blob.length, values: count("value"), definitions: count("source"), rebuilt: count("made"),
      modules: count("module") + count("member") },
    not_carried: { ...skipped },
  });
  const took = Number(process.hrtime.bigint() - started) / 1e9;
  if (took > 1) {
    process.stderr.write(`dockerkernel: saving this notebook's variables for the next cell took ${took.toFixed(1)} s (${blob.length} bytes); \`%state off\` turns this off\n`);
  }
}

function announceSkipped() {
  // say once per name (and reason) that it will not reach the next cell. The file of what was
  // said changes only when that does: a cell that skips nothing, after one that skipped nothing,
  // neither reads nor writes it (a missing file is asked without an exception: ~0.3 ms each)
  const now = JSON.stringify(skipped);
  const info = fs.lstatSync(SKIPPED_FILE, { throwIfNoEntry: false });
  if (info === undefined && now === "{}") return;
  const text = info === undefined ? "{}" : (readRegular(SKIPPED_FILE, 1 << 20) || "{}").toString();
  if (text === now) return;
  let told = {};
  try {
    told = JSON.parse(text) || {};
  } catch (err) {
    told = {};
  }
  const fresh = Object.keys(skipped).filter((name) => told[name] !== skipped[name]).sort();
  if (fresh.length) {
    process.stderr.write(`dockerkernel: not carried over to the next cell: ${fresh.map((n) => `${n}: ${skipped[n]}`).join(", ")}\n`);
  }
  if (now !== "{}") replaceFile(SKIPPED_FILE, now);
  else fs.rmSync(SKIPPED_FILE, { force: true });
}

// The runner's done pipe: the exit status is announced there as the process exits, so the end
// of the cell does not wait for Node's teardown (see runner.py wait_for_end). The state is
// saved first: once the end is announced the next cell may start.
let doneFd = Number(process.env.DK_DONE_FD);
delete process.env.DK_DONE_FD;
let analysis = null;
let saving = false;
function endCell(code) {
  if (keepState && !saving) {
    saving = true;
    try {
      saveState(analysis ? analysis.declared : new Map());
    } catch (err) {
      process.stderr.write(`dockerkernel: the variables could not be saved for the next cell (${err.name}: ${err.message})\n`);
    }
  }
  if (doneFd >= 0) {
    try {
      fs.writeSync(doneFd, `${code}\n`);
    } catch (err) {
      // the runner is gone: nobody to tell
    }
    doneFd = -1;
  }
}
process.on("exit", endCell);
process.on("uncaughtException", reportError);
process.on("unhandledRejection", reportError);

function showResult(value) {
  if (value === undefined) return;
  sendFrame("result", { data: { "text/plain": util.inspect(value) }, metadata: {} });
}

// -- the cell arrives: everything above ran while the container waited in the pool ----------
warmPaths(); // here: every name it uses is defined by now
const input = readCell();
const newline = input.indexOf(10);
if (newline < 0) process.exit(0); // the kernel went away before sending a cell
header = JSON.parse(input.subarray(0, newline).toString("utf8"));
source = input.subarray(newline + 1, newline + 1 + header.size).toString("utf8");
Object.assign(process.env, header.env || {});
process.env.DK_NONCE = header.nonce;
keepState = header.state !== false;

analysis = analyse(source);
if (keepState) restoreState(analysis ? analysis.declared : new Map());
if (analysis === null && acorn) {
  // acorn cannot parse it: run it as the CommonJS module it was before (top-level `return`, or
  // V8 reports the syntax error), carrying only globalThis properties
  cellModule._compile(source, filename);
} else if (analysis && analysis.tla) {
  const last = analysis.program.body[analysis.program.body.length - 1];
  const pending = vm.runInThisContext(rewriteAwait(source, analysis.program), { filename });
  pending.then((value) => {
    if (last && last.type === "ExpressionStatement") showResult(value);
  }, reportError);
} else {
  let value;
  try {
    value = new vm.Script(source, { filename }).runInThisContext();
  } catch (err) {
    reportError(err);
  }
  const body = analysis ? analysis.program.body : [];
  if (body.length && body[body.length - 1].type === "ExpressionStatement") showResult(value);
}

// The cell's own code has run. When the event loop is empty ("beforeExit") the cell is over:
// it ends there, ~2 ms before Node's "exit" (measured in the pool container), unless a
// listener of the cell's own started more work (a timer, a socket: then the loop goes on and
// the end comes at the next "beforeExit" or at "exit"). Registered here, after the listeners
// the cell's synchronous code added, so those run first. Only the standard streams' pipes
// are left open in a cell that is over.
if (typeof process.getActiveResourcesInfo === "function") {
  process.on("beforeExit", () => {
    if (process.getActiveResourcesInfo().every((name) => name === "PipeWrap" || name === "TTYWrap")) {
      endCell(process.exitCode === undefined ? 0 : process.exitCode);
    }
  });
}
