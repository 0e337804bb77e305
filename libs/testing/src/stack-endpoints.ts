/** Where the test stack (native or containers) answers; set by the Jest global setup. */
export interface StackEndpoints {
  kafkaBrokers: string[];
  registryUrl: string;
  mongoUrl: string;
}

/** The endpoints of the running test stack, from the environment the global setup exported. */
export function testStackEndpoints(env: Record<string, string | undefined> = process.env): StackEndpoints {
  return {
    kafkaBrokers: (env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',').map((b) => b.trim()),
    registryUrl: env['SCHEMA_REGISTRY_URL'] ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
    mongoUrl: env['MONGO_URL'] ?? 'mongodb://127.0.0.1:27017',
  };
}

/** True when broker, registry and store all accept connections. */
export async function stackReachable(endpoints: StackEndpoints): Promise<boolean> {
  const { Socket } = await import('node:net');
  const tcp = (hostPort: string) =>
    new Promise<boolean>((resolve) => {
      const url = new URL(hostPort.includes('://') ? hostPort : `tcp://${hostPort}`);
      const socket = new Socket();
      socket.setTimeout(1_000);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.connect(Number(url.port), url.hostname);
    });
  const registryUp = await fetch(`${endpoints.registryUrl}/subjects`, { signal: AbortSignal.timeout(2_000) })
    .then((r) => r.ok)
    .catch(() => false);
  const mongo = new URL(endpoints.mongoUrl);
  const mongoUp = await tcp(`${mongo.hostname}:${mongo.port || '27017'}`);
  const kafkaUp = await tcp(endpoints.kafkaBrokers[0] ?? '127.0.0.1:9092');
  return registryUp && mongoUp && kafkaUp;
}
