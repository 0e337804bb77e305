/** DI token of the service's pino logger. */
export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');
