/**
 * A throwaway self-signed certificate for the TLS (api-ssl) simulator, made with the openssl command line.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export async function selfSignedCert(commonName = "routeros-sim"): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), "routeros-sim-tls-"));
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    await run("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "1",
      "-subj", `/CN=${commonName}`, "-keyout", key, "-out", cert,
    ]); // prettier-ignore
    return { key: await readFile(key, "utf8"), cert: await readFile(cert, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
