/** Entry point of the `lbgw` resource plugin (started by the engine through pulumi-resource-lbgw). */
import "./host-fix";
import * as provider from "@pulumi/pulumi/provider";
import { sendProgressToEngine } from "./progress";
import { LoadBalancedGatewayPlugin } from "./provider";

// The engine starts a plugin with its own address as the first argument.
const engine = process.argv.slice(2).find((a) => !a.startsWith("-"));
if (engine) sendProgressToEngine(engine);
void provider.main(new LoadBalancedGatewayPlugin(), process.argv.slice(2));
