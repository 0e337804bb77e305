import { SERVICE_ENTRIES } from '../services/service-list';

/** The services with their default HTTP ports, from the one list (tools/services/services.json). */
export const SERVICES: readonly { name: string; port: number }[] = SERVICE_ENTRIES.map(({ name, port }) => ({
  name,
  port,
}));
