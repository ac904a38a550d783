/**
 * sshd inside the gateway namespace: per-lab ed25519 host and client keys, a private sshd_config (the
 * system's /etc/ssh/sshd_config is not read), and test accounts that exist only inside the lab.
 *
 * Accounts: `ip netns exec NS` bind-mounts every entry of /etc/netns/NS/ over /etc/<entry> in the mount
 * namespace it creates. The lab puts copies of /etc/passwd, /etc/shadow, /etc/group and a sudoers.d there,
 * so sshd (and every session it starts) sees a root password and a sudo user that the host never has.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { childEnv, findTool, run } from "./proc";

export type SudoMode = "nopasswd" | "password";

export interface KeyPair {
  privateKey: string;
  privateKeyPath: string;
  /** "ssh-ed25519 AAAA..." without comment. */
  publicKey: string;
  /** The raw key blob (what ssh2's hostVerifier receives). */
  blob: Buffer;
  /** "SHA256:..." as `ssh-keygen -lf` prints it. */
  sha256: string;
}

async function keygen(file: string, comment: string): Promise<KeyPair> {
  await run(
    [findTool("ssh-keygen") ?? "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file],
    {
      check: true,
    },
  );
  const pub = fs.readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/);
  const blob = Buffer.from(pub[1], "base64");
  return {
    privateKey: fs.readFileSync(file, "utf8"),
    privateKeyPath: file,
    publicKey: `${pub[0]} ${pub[1]}`,
    blob,
    sha256: "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, ""),
  };
}

export async function generateKeys(dir: string, label: string): Promise<{ host: KeyPair; client: KeyPair }> {
  const [host, client] = await Promise.all([
    keygen(path.join(dir, "ssh_host_ed25519_key"), `${label} host`),
    keygen(path.join(dir, "id_ed25519"), `${label} client`),
  ]);
  // sshd reads authorized_keys as the logging-in user: the lab's directory is 0711 and this file 0644
  fs.writeFileSync(path.join(dir, "authorized_keys"), `${client.publicKey} ${label}\n`, { mode: 0o644 });
  return { host, client };
}

export function randomPassword(): string {
  return randomBytes(12).toString("base64url");
}

async function sha512Crypt(password: string): Promise<string> {
  const r = await run([findTool("openssl") ?? "openssl", "passwd", "-6", "-stdin"], {
    input: password + "\n",
    check: true,
  });
  return r.stdout.trim();
}

export interface LabAccounts {
  rootPassword: string;
  user: { username: string; password: string; uid: number; home: string; sudo: SudoMode };
}

/**
 * Writes /etc/netns/<gwNs>/{passwd,shadow,group,sudoers.d/}: root gets a password, and `username`
 * (uid/gid picked free, home in the lab's directory) gets a password and sudo.
 */
export async function writeAccounts(
  etcDir: string,
  labDir: string,
  username: string,
  sudo: SudoMode,
): Promise<LabAccounts> {
  const rootPassword = randomPassword();
  const userPassword = randomPassword();
  const [rootHash, userHash] = await Promise.all([sha512Crypt(rootPassword), sha512Crypt(userPassword)]);
  const passwd = fs.readFileSync("/etc/passwd", "utf8");
  const group = fs.readFileSync("/etc/group", "utf8");
  let shadow = "";
  try {
    shadow = fs.readFileSync("/etc/shadow", "utf8");
  } catch {
    // no shadow file: one is created below
  }
  const usedIds = new Set<number>();
  for (const line of [...passwd.split("\n"), ...group.split("\n")]) {
    const id = Number(line.split(":")[2]);
    if (Number.isInteger(id)) usedIds.add(id);
  }
  let uid = 20000;
  while (usedIds.has(uid)) uid++;
  const home = path.join(labDir, "home", username);
  fs.mkdirSync(home, { recursive: true, mode: 0o755 });
  fs.chownSync(home, uid, uid);

  const keep = (text: string, drop: string) =>
    text
      .split("\n")
      .filter((l) => l && !l.startsWith(`${drop}:`))
      .join("\n");
  const shadowLines = keep(shadow, username)
    .split("\n")
    .filter((l) => l && !l.startsWith("root:"));
  shadowLines.unshift(`root:${rootHash}:19000:0:99999:7:::`);
  shadowLines.push(`${username}:${userHash}:19000:0:99999:7:::`);

  fs.mkdirSync(path.join(etcDir, "sudoers.d"), { recursive: true, mode: 0o755 });
  fs.writeFileSync(
    path.join(etcDir, "passwd"),
    `${keep(passwd, username)}\n${username}:x:${uid}:${uid}:lbgw lab user:${home}:/bin/bash\n`,
    { mode: 0o644 },
  );
  fs.writeFileSync(path.join(etcDir, "group"), `${keep(group, username)}\n${username}:x:${uid}:\n`, {
    mode: 0o644,
  });
  fs.writeFileSync(path.join(etcDir, "shadow"), shadowLines.join("\n") + "\n", { mode: 0o600 });
  // sudo refuses sudoers files that are group/world writable or not owned by root: 0440 root.
  const rule = sudo === "nopasswd" ? "NOPASSWD: ALL" : "ALL";
  fs.writeFileSync(path.join(etcDir, "sudoers.d", "lbgw-lab"), `${username} ALL=(ALL:ALL) ${rule}\n`, {
    mode: 0o440,
  });
  return { rootPassword, user: { username, password: userPassword, uid, home, sudo } };
}

export function sshdConfig(o: {
  listen: string;
  port: number;
  hostKeyPath: string;
  authorizedKeys: string;
  pidFile: string;
}): string {
  return [
    `Port ${o.port}`,
    `ListenAddress ${o.listen}`,
    `HostKey ${o.hostKeyPath}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    // the lab's key files live in a temporary directory whose modes sshd would otherwise refuse
    "StrictModes no",
    "PermitRootLogin yes",
    "PubkeyAuthentication yes",
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication no",
    // without PAM sshd checks passwords against (the lab's private) /etc/shadow itself
    "UsePAM no",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    // a provider may open several channels and sessions at once
    "MaxSessions 64",
    "MaxStartups 64:30:128",
    "LoginGraceTime 30",
    "Subsystem sftp internal-sftp",
    "LogLevel VERBOSE",
    "",
  ].join("\n");
}

/** Directories each lab gateway has to itself (tmpfs in its sshd's mount namespace). */
export const PRIVATE_DIRS = ["/usr/local/lib/lbgw", "/run/lbgw"];

/** Starts `sshd -D` in the namespace and resolves once it answers with its SSH banner. */
export async function startSshd(o: {
  netns: string;
  configPath: string;
  logPath: string;
  host: string;
  port: number;
  timeoutMs?: number;
}): Promise<ChildProcess> {
  // privilege separation directory; shared by all namespaces (network namespaces share the filesystem)
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  // A gateway is a network namespace on this machine, so by itself it would share this machine's files:
  // what the provider installs there (the prober in /usr/local/lib/lbgw, its state in /run/lbgw) would be
  // seen by every other lab gateway. sshd runs in the mount namespace `ip netns exec` makes (slave to the
  // host's), and every SSH session inherits it: a private tmpfs on each gives the gateway its own copies.
  for (const dir of PRIVATE_DIRS) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const sshd = findTool("sshd") ?? "/usr/sbin/sshd";
  const mounts = PRIVATE_DIRS.map((d) => `mount -t tmpfs -o mode=0755,size=16m lbgw-lab "${d}"`).join(" && ");
  const child = spawn(
    findTool("ip") ?? "ip",
    [
      "netns",
      "exec",
      o.netns,
      "sh",
      "-c",
      `${mounts} && exec "$@"`,
      "sh",
      sshd,
      "-D",
      "-f",
      o.configPath,
      "-E",
      o.logPath,
    ],
    { env: childEnv(), stdio: "ignore" },
  );
  child.unref();
  let exited: string | undefined;
  child.on("exit", (code, signal) => {
    exited = `${signal ?? code}`;
  });
  child.on("error", (e) => {
    exited = e.message;
  });
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    if (await sshBanner(o.host, o.port, 500)) return child;
    await new Promise((r) => setTimeout(r, 15));
  }
  let log = "";
  try {
    log = fs.readFileSync(o.logPath, "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    // no log yet
  }
  child.kill("SIGKILL");
  throw new Error(`sshd in ${o.netns} did not start (${exited ?? "timeout"}): ${log}`);
}

function sshBanner(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = "";
    const finish = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => finish(false), timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d;
      if (buf.includes("SSH-2.0-")) finish(true);
    });
    s.on("error", () => finish(false));
    s.on("close", () => finish(false));
  });
}
