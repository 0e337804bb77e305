/**
 * The `source` of every event this service publishes. It keeps the service's first name: derived event ids hash it,
 * so a new name would give a cause redelivered across an upgrade new ids, and consumers would act on it twice.
 */
export const LEADS_EVENT_SOURCE = 'scoring';
