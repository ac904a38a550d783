/**
 * `lbgw status --stack` as a user runs it: the CLI in a child process, in the program's directory, with
 * the demo's private backend and passphrase (the stack's environment), its table printed under the step.
 * The CLI reads the gateway's target from the stack's state itself; nothing secret passes through here.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import type { Lab } from "../labs/linux-lab";
import { REPO, type Stack } from "./pulumi";
import { dim, note, step, subOutput } from "./ui";

export async function showStatus(stack: Stack, when: string): Promise<void> {
  const rel = path.relative(REPO, stack.dir);
  step(`${dim("$")} npx lbgw status --stack ${stack.name} ${dim(`(in ${rel}; ${when})`)}`);
  const child = spawn(
    process.execPath,
    [path.join(REPO, "node_modules/tsx/dist/cli.mjs"), path.join(REPO, "cli/lbgw.ts"), "status"].concat([
      "--stack",
      stack.name,
      "--cwd",
      stack.dir,
    ]),
    { env: stack.engine.env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  for (const line of out.trimEnd().split("\n")) subOutput(line);
  if (code !== 0) note(`lbgw status exited ${code}`);
}

const HELD_PORT = 7990;

/**
 * One TCP connection from each of `clients` to an echo server in the lab's inet, kept open (the lab's
 * destroy ends them with its processes); resolves with how many answered.
 */
export async function holdConnections(lab: Lab, clients: string[]): Promise<number> {
  // socat in the lab's namespaces (the lab's destroy kills every process in them)
  const inNs = (ns: string, args: string[]) =>
    spawn("ip", ["netns", "exec", ns, "socat", ...args], { stdio: ["pipe", "pipe", "ignore"] });
  inNs(lab.ns.inet, [`TCP-LISTEN:${HELD_PORT},fork,reuseaddr`, "EXEC:cat"]).on("error", () => undefined);
  await new Promise((r) => setTimeout(r, 300));
  const answered = await Promise.all(
    clients.map((from) => {
      const p = inNs(lab.ns.lan, ["-", `TCP:${lab.addresses.server}:${HELD_PORT},bind=${from}`]);
      p.on("error", () => undefined);
      p.stdin.write("hello\n");
      return new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 3000);
        p.stdout.once("data", () => (clearTimeout(t), resolve(true)));
      });
    }),
  );
  return answered.filter(Boolean).length;
}
