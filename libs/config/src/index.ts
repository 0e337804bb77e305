/** Each service's validated configuration: the shared keys every service reads, plus its own zod shape. */
export * from './config';
export * from './tokens';
