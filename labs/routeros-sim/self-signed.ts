/**
 * Throwaway certificates for the TLS (api-ssl) simulator, made with the openssl command line (asynchronously:
 * the in-process simulator must keep answering meanwhile).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

async function inTempDir<T>(work: (file: (name: string) => string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "routeros-sim-tls-"));
  try {
    return await work((name) => join(dir, name));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A self-signed certificate (its own CA). */
export async function selfSignedCert(commonName = "routeros-sim"): Promise<{ key: string; cert: string }> {
  return inTempDir(async (file) => {
    await run("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "1",
      "-subj", `/CN=${commonName}`, "-keyout", file("key.pem"), "-out", file("cert.pem"),
    ]); // prettier-ignore
    return { key: await readFile(file("key.pem"), "utf8"), cert: await readFile(file("cert.pem"), "utf8") };
  });
}

/** A router certificate signed by a throwaway CA (as an operator's own PKI would issue it). */
export async function caSignedCert(
  commonName = "routeros-sim",
): Promise<{ key: string; cert: string; ca: string }> {
  const ca = await selfSignedCert(`${commonName} CA`);
  return inTempDir(async (file) => {
    await run("openssl", [
      "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${commonName}`,
      "-keyout", file("key.pem"), "-out", file("req.pem"),
    ]); // prettier-ignore
    const [caKey, caCert] = [file("ca-key.pem"), file("ca.pem")];
    await Promise.all([writeFile(caKey, ca.key), writeFile(caCert, ca.cert)]);
    await run("openssl", [
      "x509", "-req", "-in", file("req.pem"), "-CA", caCert, "-CAkey", caKey, "-CAcreateserial",
      "-days", "1", "-sha256", "-out", file("cert.pem"),
    ]); // prettier-ignore
    return {
      key: await readFile(file("key.pem"), "utf8"),
      cert: await readFile(file("cert.pem"), "utf8"),
      ca: ca.cert,
    };
  });
}
