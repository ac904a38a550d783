/**
 * The `lbgw` resource plugin: the same LoadBalancedGateway as the dynamic provider (provider/index.ts does
 * the work for both), served as a real Pulumi provider so that every language (Python, Go, .NET, YAML)
 * can declare it, and `pulumi import` can adopt an existing configuration.
 *
 * What differs from the dynamic provider is only the envelope:
 * - the engine sends secrets as secret values (the plugin accepts secrets): they are opened before the
 *   provider code sees them, and `target` (credentials) is sealed again in everything returned;
 * - the SDK of a dynamic resource sets `owner` (the resource name) and `holder` (project/stack/resource);
 *   here both come from the resource's URN;
 * - `read` with nothing but an id is an import (plugin/import.ts).
 */
import type * as pulumi from "@pulumi/pulumi";
import type * as provider from "@pulumi/pulumi/provider";
import * as impl from "../provider/index";
import { ownerFromName } from "../sdk/index";
import { importGateway } from "./import";
import { asResource } from "./progress";
import { PACKAGE, RESOURCE, VERSION, pulumiSchema } from "./schema";

/** How the engine marks a secret value on the wire (sdk/go/common/resource/sig). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

type Props = Record<string, unknown>;

/** `value` with every secret replaced by what it holds. */
export function openSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(openSecrets);
  if (value && typeof value === "object") {
    const o = value as Props;
    if (o[SIG_KEY] === SECRET_SIG) return openSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, openSecrets(v)]));
  }
  return value;
}

export const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

/** The props with the target (the device's credentials) sealed as a secret. */
export function sealTarget(props: Props): Props {
  return props.target === undefined ? props : { ...props, target: secret(props.target) };
}

/** urn:pulumi:STACK::PROJECT::TYPE::NAME */
export function parseUrn(urn: string): { stack: string; project: string; type: string; name: string } {
  const m = /^urn:pulumi:([^:]*)::([^:]*)::(?:.*\$)?([^:$]+:[^:$]*:[^:$]+)::(.*)$/.exec(urn);
  if (!m) throw new Error(`not a resource URN: ${urn}`);
  return { stack: m[1], project: m[2], type: m[3], name: m[4] };
}

/** What the SDK of a dynamic resource adds to the arguments, from the URN. */
function withIdentity(urn: string, news: Props): Props {
  const { stack, project, type, name } = parseUrn(urn);
  if (type !== RESOURCE) throw new Error(`the ${PACKAGE} plugin serves ${RESOURCE} only, not ${type}`);
  return { ...news, owner: news.owner ?? ownerFromName(name), holder: `${project}/${stack}/${name}` };
}

const isEmpty = (props: Props | undefined) => !props || Object.keys(props).length === 0;
const open = (props: Props) => openSecrets(props) as Props;

export class LoadBalancedGatewayPlugin implements provider.Provider {
  readonly version = VERSION;
  readonly schema = JSON.stringify(pulumiSchema());

  check(urn: string, olds: Props, news: Props): Promise<provider.CheckResult> {
    return asResource(urn, async () => {
      const result = await impl.check(open(olds), withIdentity(urn, open(news)));
      return { inputs: sealTarget(result.inputs), failures: result.failures };
    });
  }

  diff(id: string, urn: string, olds: Props, news: Props): Promise<provider.DiffResult> {
    return asResource(urn, () => impl.diff(id, open(olds), open(news)));
  }

  create(urn: string, inputs: Props): Promise<provider.CreateResult> {
    return asResource(urn, async () => {
      const { id, outs } = await impl.create(open(inputs));
      return { id, outs: sealTarget(outs as Props) };
    });
  }

  read(id: string, urn: string, props?: Props): Promise<provider.ReadResult> {
    return asResource(urn, async () => {
      // Nothing but an id: `pulumi import` (or the `import` resource option) asks what the device holds.
      const result: pulumi.dynamic.ReadResult = isEmpty(props)
        ? await importGateway(id)
        : await impl.read(id, open(props ?? {}));
      return {
        id: result.id,
        props: sealTarget((result.props ?? {}) as Props),
        ...(result.inputs ? { inputs: sealTarget(result.inputs as Props) } : {}),
      };
    });
  }

  update(id: string, urn: string, olds: Props, news: Props): Promise<provider.UpdateResult> {
    return asResource(urn, async () => {
      const { outs } = await impl.update(id, open(olds), open(news));
      return { outs: sealTarget(outs as Props) };
    });
  }

  delete(id: string, urn: string, props: Props): Promise<void> {
    return asResource(urn, () => impl.remove(id, open(props)));
  }
}
