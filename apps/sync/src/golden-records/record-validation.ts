import { z } from 'zod';
import type { ConnectorField, ConnectorObject } from '../connectors/connector';

export interface RecordProblem {
  field: string;
  reason: string;
}

const email = z.string().email();
/** Digits with the separators people type, an optional leading +, 6 to 20 digits (E.164 allows 15 plus extensions). */
const PHONE = /^\+?[0-9][0-9 ().\-/]*$/;

/** Why a vendor value does not fit its field, or null when it does (empty values always fit: they change nothing). */
export function fieldProblem(field: ConnectorField, value: string): string | null {
  switch (field.type) {
    case 'email':
      return email.safeParse(value).success ? null : 'not an email address';
    case 'phone': {
      const digits = value.replace(/\D/g, '').length;
      return PHONE.test(value) && digits >= 6 && digits <= 20 ? null : 'not a phone number';
    }
    case 'number':
      return Number.isFinite(Number(value.replace(/[,_\s]/g, ''))) ? null : 'not a number';
    case 'datetime':
      return /^\d+$/.test(value) || !Number.isNaN(Date.parse(value)) ? null : 'not a date-time';
    case 'picklist':
      return field.options?.includes(value)
        ? null
        : `not one of ${field.options?.join(', ') ?? 'its options'}`;
    case 'string':
      return value.length <= 65_536 ? null : 'longer than 65,536 characters';
  }
}

/**
 * A vendor record's fields checked against the connector's object: its synced fields as strings (empty as null) and
 * every problem found. Fields the connector does not sync are left out, not refused: webhooks carry more than we map.
 */
export function validateRecord(
  object: ConnectorObject,
  raw: Readonly<Record<string, unknown>>,
  creating: boolean,
): { values: Record<string, string | null>; problems: RecordProblem[] } {
  const values: Record<string, string | null> = {};
  const problems: RecordProblem[] = [];
  for (const [name, field] of Object.entries(object.fields)) {
    if (!(name in raw)) {
      if (creating && field.required) problems.push({ field: name, reason: 'required' });
      continue;
    }
    const value = raw[name];
    if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) {
      problems.push({ field: name, reason: 'not a single value' });
      continue;
    }
    const text = value === null ? '' : String(value as string | number | boolean).trim();
    if (text === '') {
      if (creating && field.required) problems.push({ field: name, reason: 'required' });
      values[name] = null;
      continue;
    }
    const problem = fieldProblem(field, text);
    if (problem) problems.push({ field: name, reason: problem });
    else values[name] = text;
  }
  return { values, problems };
}
