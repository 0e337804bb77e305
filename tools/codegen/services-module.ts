/**
 * libs/contracts/src/generated/services.ts from tools/services/services.json: the services and the credential scopes
 * each honours. Libs read the scope vocabulary from here (libs/access validates issued scopes against it), so no lib
 * lists its apps' scopes and no app imports another.
 */
import type { ServiceList } from '../services/service-list';

export const SERVICES_MODULE = 'services.ts';

/** Every scope some service honours, each once, in list order. */
export function credentialScopes(list: ServiceList): string[] {
  return [...new Set(list.services.flatMap((service) => service.scopes))];
}

/** The module's source (unformatted: the codegen runs Prettier over it like over every generated file). */
export function renderServicesModule(list: ServiceList, header: string): string {
  const literal = (values: readonly string[]) => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
  return [
    header,
    "/** Tributary's services, in the order tools/services/services.json lists them. */",
    `export const ServiceNames = ${literal(list.services.map((s) => s.name))} as const;`,
    '',
    '/** A service of this repo. */',
    'export type ServiceName = (typeof ServiceNames)[number];',
    '',
    '/**',
    " * The credential scopes each service's APIs honour, as its src/scopes.ts declares them (npm run services:check",
    ' * compares the two). A `<name>` part stands for one id each: `webhooks:<source>` is `webhooks:hubspot`, ...',
    ' */',
    'export const ServiceScopes = {',
    ...list.services.map((s) => `  ${JSON.stringify(s.name)}: ${literal(s.scopes)},`),
    '} as const satisfies Record<ServiceName, readonly string[]>;',
    '',
    '/** Every scope some service honours: what a credential may be issued. */',
    `export const CredentialScopes = ${literal(credentialScopes(list))} as const;`,
    '',
    '/** A scope some service honours (`<name>` parts unexpanded). */',
    'export type CredentialScope = (typeof CredentialScopes)[number];',
    '',
  ].join('\n');
}
