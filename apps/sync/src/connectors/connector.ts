/** What a connector can do with its vendor. */
export type ConnectorCapability = 'read-changes' | 'receive-pushed' | 'write' | 'erase';

/** A vendor field as the connector knows it: its type, and the values a picklist takes. */
export interface ConnectorField {
  type: 'string' | 'email' | 'phone' | 'number' | 'datetime' | 'picklist';
  options?: readonly string[];
  /** Set by the vendor; never written. */
  readOnly?: boolean;
  /** The golden record's field it maps to by default (`firstname` → `firstName`); none: not synced. */
  canonical?: string;
  /** The vendor refuses a record without it. */
  required?: boolean;
}

/** One object a connector syncs: the platform's entity, the vendor's name for it and its fields. */
export interface ConnectorObject {
  entity: 'contact' | 'company';
  /** The vendor's object (`contacts` in HubSpot's v3 API). */
  vendorObject: string;
  fields: Readonly<Record<string, ConnectorField>>;
}

/**
 * A connector's declaration: what it can do, its objects and fields, the vendor API version it speaks and when the
 * vendor retires that version (a warning event as the date comes near), and the vendor's request limits.
 */
export interface ConnectorDescriptor {
  kind: string;
  vendor: string;
  apiVersion: string;
  /** ISO date the vendor retires `apiVersion`, null while none is announced. */
  apiSunsetAt: string | null;
  capabilities: readonly ConnectorCapability[];
  objects: readonly ConnectorObject[];
  rateLimits: Readonly<Record<string, { requests: number; perMs: number }>>;
}

/** A vendor record as read: id, the vendor's own modification time (its version) and its field values. */
export interface VendorRecord {
  id: string;
  modifiedAt: number;
  createdAt: number;
  fields: Record<string, string | null>;
}

/**
 * What change capture needs from a vendor: records in (modification time, id) order, asked so that no single
 * question pages past the vendor's result cap (see `nextChangePage`).
 */
export interface ChangeSource {
  /** Records modified exactly at `at` with an id after `afterId` ('' = from the first), in id order. */
  modifiedAt(object: ConnectorObject, at: number, afterId: string, limit: number): Promise<VendorRecord[]>;
  /** Records modified after `from` and at or before `until`, in modification order (ties in any order). */
  modifiedBetween(
    object: ConnectorObject,
    from: number,
    until: number,
    limit: number,
  ): Promise<VendorRecord[]>;
  /** Records as they stand now, by id (those gone are left out): outbound reads them before it overwrites. */
  read(object: ConnectorObject, ids: readonly string[]): Promise<VendorRecord[]>;
  /** How many records were modified after `from` and at or before `until`, when the vendor can say (progress). */
  count?(object: ConnectorObject, from: number, until: number): Promise<number>;
  /** A real call that proves the credentials work (a connection's test). */
  check(): Promise<void>;
}

/** A record to write: the vendor's id when the record exists there (null: create it) and the vendor fields to set. */
export interface RecordWrite {
  /** The caller's handle on this record, given back in its outcome (a golden record's id). */
  ref: string;
  externalId: string | null;
  fields: Record<string, string | null>;
}

/** What became of one record of a write: its vendor id and version, or the vendor's answer. */
export type WriteOutcome =
  | { ref: string; ok: true; externalId: string; modifiedAt: number }
  | { ref: string; ok: false; status: number; reason: string; retryable: boolean };

/**
 * What outbound sync needs from a vendor: writes in the vendor's batches, where one record's validation error fails
 * that record only, and erasure for good.
 */
export interface RecordWriter {
  write(object: ConnectorObject, records: readonly RecordWrite[]): Promise<WriteOutcome[]>;
  /** Deletes the record permanently (the vendor's GDPR delete where it has one); a record already gone is no error. */
  erase(object: ConnectorObject, externalId: string): Promise<void>;
  /**
   * Merges the vendor's record `mergedId` into `primaryId` (where the vendor merges records): answers the id of the
   * record that survives, which the vendor may have given a new one.
   */
  merge?(object: ConnectorObject, primaryId: string, mergedId: string): Promise<string>;
}
