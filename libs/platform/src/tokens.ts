/** DI token of the validated ServiceConfig. */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
/** DI token of the service's pino logger. */
export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');
