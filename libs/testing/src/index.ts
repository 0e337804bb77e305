/** Test harness: the real stack's endpoints (native or containers), isolated service env, polling and topic reads. */
export * from './stack-endpoints';
export * from './wait-for';
export * from './group-progress';
export * from './rate-windows';
export * from './test-env';
export * from './topic-reader';
export * from './containers';
export * from './fixtures';
export * from './fake-enrichment-api';
export * from './http-from';
export * from './service-process';
export * from './store-commands';
export * from './test-publisher';
export * from './free-port';
