/** DI token of the service's mongoose Connection (its own database). */
export const STORE_CONNECTION = Symbol('STORE_CONNECTION');
