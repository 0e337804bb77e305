import type { ChangeSource, ConnectorDescriptor, ConnectorObject, RecordWriter } from './connector';
import { HubSpotRecordWriter } from './hubspot/hubspot-record-writer';
import { HUBSPOT, HubSpotChangeSource } from './hubspot/hubspot.connector';

/** What a connection's credentials must hold, per connector. */
export type ConnectorCredentials = { accessToken: string };

/** The connectors sync offers, and how each reaches its vendor. */
export interface ConnectorRegistry {
  descriptor(kind: string): ConnectorDescriptor | undefined;
  /** The connector's object by vendor name (`contacts`). */
  object(kind: string, vendorObject: string): ConnectorObject | undefined;
  source(kind: string, credentials: ConnectorCredentials): ChangeSource;
  writer(kind: string, credentials: ConnectorCredentials): RecordWriter;
}

export const CONNECTOR_REGISTRY = Symbol('CONNECTOR_REGISTRY');

export const CONNECTORS: readonly ConnectorDescriptor[] = [HUBSPOT];

/** The registry of the configured vendors' APIs. */
export function connectorRegistry(urls: { hubspot: string }): ConnectorRegistry {
  const descriptor = (kind: string) => CONNECTORS.find((c) => c.kind === kind);
  return {
    descriptor,
    object: (kind, vendorObject) => descriptor(kind)?.objects.find((o) => o.vendorObject === vendorObject),
    source: (kind, credentials) => {
      if (kind === HUBSPOT.kind) return new HubSpotChangeSource(urls.hubspot, credentials.accessToken);
      throw new Error(`no connector '${kind}'`);
    },
    writer: (kind, credentials) => {
      if (kind === HUBSPOT.kind) return new HubSpotRecordWriter(urls.hubspot, credentials.accessToken);
      throw new Error(`no writer for connector '${kind}' yet`);
    },
  };
}
