import type { IHeaders } from 'kafkajs';

/** Kafka headers as plain strings/buffers, the shape both kafkajs and the OTel propagator accept. */
export type HeaderMap = Record<string, string | Buffer>;

/** Normalizes kafkajs headers (values may be arrays or undefined) into a flat map. */
export function flattenHeaders(headers: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    out[key] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}

/** Getter/setter pair for W3C trace context in Kafka headers. */
export const headerGetter = {
  keys: (carrier: Record<string, Buffer | string>) => Object.keys(carrier),
  get: (carrier: Record<string, Buffer | string>, key: string) => {
    const value = carrier[key];
    return value === undefined ? undefined : value.toString();
  },
};
export const headerSetter = {
  set: (carrier: HeaderMap, key: string, value: string) => {
    carrier[key] = value;
  },
};
