/**
 * The plugin's progress lines, shown on the resource's line of the engine's display. The engine hides a
 * resource plugin's stderr (only the dynamic-provider host's is shown, which is where provider/index.ts
 * writes them), so the plugin sends each line to the engine's Log service, naming the resource whose
 * operation wrote it: each operation runs with its URN in an async context (`asResource`).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setProgressSink } from "../provider/index";
import { fromSdk } from "./sdk-modules";

const operation = new AsyncLocalStorage<string>();

/** Runs `work` as an operation on the resource `urn`: its progress lines are that resource's. */
export function asResource<T>(urn: string, work: () => Promise<T>): Promise<T> {
  return operation.run(urn, work);
}

interface LogRequest {
  setSeverity(s: number): void;
  setMessage(m: string): void;
  setUrn(u: string): void;
}
interface EngineClient {
  log(req: LogRequest, done: (err: Error | null) => void): void;
}

/** Sends progress lines to the engine at `address` (the plugin's first argument). */
export function sendProgressToEngine(address: string): void {
  const grpc = fromSdk<{ credentials: { createInsecure(): unknown } }>("@grpc/grpc-js");
  const engineProto = fromSdk<{ LogRequest: new () => LogRequest; LogSeverity: { INFO: number } }>(
    "@pulumi/pulumi/proto/engine_pb",
  );
  const { EngineClient } = fromSdk<{
    EngineClient: new (address: string, credentials: unknown) => EngineClient;
  }>("@pulumi/pulumi/proto/engine_grpc_pb");
  const engine = new EngineClient(address, grpc.credentials.createInsecure());
  setProgressSink((line) => {
    const req = new engineProto.LogRequest();
    req.setSeverity(engineProto.LogSeverity.INFO);
    req.setMessage(line);
    req.setUrn(operation.getStore() ?? "");
    // A line the engine cannot take is not worth failing an operation for: it goes to stderr instead.
    engine.log(req, (err) => void (err && process.stderr.write(`${line}\n`)));
  });
}
