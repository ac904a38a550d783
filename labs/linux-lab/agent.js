// @ts-check
/*
 * Traffic agent of the Linux lab: one long-lived process per network namespace, started with
 * `ip netns exec <ns> node agent.js`, driven by JSON lines on stdin, answering JSON lines on stdout.
 * Plain JavaScript (run by node directly, also from a compiled dist/), no dependencies.
 *
 * Requests {id, op, ...}; answers {id, ok: true, ...} or {id, ok: false, error}.
 *   listen      {host, port, tag}        TCP server: answers each connection "<peer address> <tag>\n", closes.
 *   unlisten    {port}
 *   connect     {job, timeoutMs}         job = {from?, host, port}: {text} or {error: errno code}
 *   connectMany {jobs, concurrency, timeoutMs}: {results: [{text} | {error}]} in job order
 *   stats       {}                       connections accepted per listener port and peer address
 * The agent exits when stdin closes, so it never outlives its owner.
 */
"use strict";
const net = require("node:net");
const readline = require("node:readline");

/** @type {Map<number, {server: import("node:net").Server, seen: Map<string, number>}>} */
const listeners = new Map();

/** @param {unknown} msg */
function send(msg) {
  process.stdout.write(JSON.stringify(msg) + "\n");
}

/**
 * @param {{from?: string, host: string, port: number}} job
 * @param {number} timeoutMs
 * @returns {Promise<{text?: string, error?: string}>}
 */
function connectOnce(job, timeoutMs) {
  return new Promise((resolve) => {
    let settled = false;
    let data = "";
    /** @param {{text?: string, error?: string}} r */
    const done = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const sock = net.connect({ host: job.host, port: job.port, localAddress: job.from || undefined });
    const timer = setTimeout(() => done({ error: "ETIMEDOUT" }), timeoutMs);
    sock.setEncoding("utf8");
    sock.on("data", (d) => (data += d));
    sock.on("end", () => done(data ? { text: data.trim() } : { error: "EEMPTY" }));
    sock.on("error", (e) => done({ error: /** @type {NodeJS.ErrnoException} */ (e).code || e.message }));
    sock.on("close", () => done(data ? { text: data.trim() } : { error: "ECLOSED" }));
  });
}

/**
 * @param {Array<{from?: string, host: string, port: number}>} jobs
 * @param {number} concurrency
 * @param {number} timeoutMs
 */
async function connectMany(jobs, concurrency, timeoutMs) {
  /** @type {Array<{text?: string, error?: string}>} */
  const results = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await connectOnce(jobs[i], timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, worker));
  return results;
}

/**
 * @param {string} host
 * @param {number} port
 * @param {string} tag
 * @returns {Promise<number>}
 */
function listen(host, port, tag) {
  return new Promise((resolve, reject) => {
    /** @type {Map<string, number>} */
    const seen = new Map();
    const server = net.createServer((sock) => {
      const peer = sock.remoteAddress || "?";
      seen.set(peer, (seen.get(peer) || 0) + 1);
      sock.on("error", () => {});
      sock.end(`${peer} ${tag}\n`);
    });
    server.on("error", reject);
    server.listen({ host, port, backlog: 1024 }, () => {
      const addr = server.address();
      const bound = typeof addr === "object" && addr ? addr.port : port;
      listeners.set(bound, { server, seen });
      resolve(bound);
    });
  });
}

/** @param {any} req */
async function handle(req) {
  switch (req.op) {
    case "listen":
      return { port: await listen(req.host, req.port, req.tag) };
    case "unlisten": {
      const l = listeners.get(req.port);
      if (l) {
        listeners.delete(req.port);
        await new Promise((r) => l.server.close(() => r(undefined)));
      }
      return {};
    }
    case "connect":
      return connectOnce(req.job, req.timeoutMs);
    case "connectMany":
      return { results: await connectMany(req.jobs, req.concurrency, req.timeoutMs) };
    case "stats": {
      /** @type {Record<string, Record<string, number>>} */
      const stats = {};
      for (const [port, l] of listeners) stats[port] = Object.fromEntries(l.seen);
      return { stats };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  /** @type {any} */
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    send({ id: null, ok: false, error: "bad json" });
    return;
  }
  handle(req).then(
    (r) => send({ id: req.id, ok: true, ...r }),
    (e) =>
      send({ id: req.id, ok: false, error: e && e.code ? e.code : String(e && e.message ? e.message : e) }),
  );
});
rl.on("close", () => process.exit(0));
send({ id: 0, ok: true, ready: true, pid: process.pid });
