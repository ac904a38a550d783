/**
 * Modules of the Pulumi SDK's own dependencies (gRPC, generated protobuf code), loaded from the SDK's
 * directory, so that the plugin uses the very instances the SDK's provider host uses.
 */
import * as path from "node:path";

const sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));

export function fromSdk<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- resolved from the SDK's directory
  return require(require.resolve(id, { paths: [sdkDir] })) as T;
}
