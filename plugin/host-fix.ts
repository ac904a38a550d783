/**
 * A fix for @pulumi/pulumi's provider host (3.248, provider/server.js `read`): it reads the request's
 * properties without checking for them, and an import (`pulumi import`, or the `import` resource option)
 * sends none, so every import failed with "Cannot read properties of undefined (reading 'toJavaScript')".
 * Here an absent property struct reads as an empty one, which is what the engine means by it.
 */
import { fromSdk } from "./sdk-modules";

const providerProto = fromSdk<{ ReadRequest: { prototype: { getProperties(): unknown } } }>(
  "@pulumi/pulumi/proto/provider_pb",
);
const { Struct } = fromSdk<{ Struct: new () => unknown }>("google-protobuf/google/protobuf/struct_pb");

const getProperties = providerProto.ReadRequest.prototype.getProperties;
providerProto.ReadRequest.prototype.getProperties = function (this: unknown) {
  return getProperties.call(this) ?? new Struct();
};
