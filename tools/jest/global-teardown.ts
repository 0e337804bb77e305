/** Stops containers started by the global setup; a native stack is left running for the next run (fast reruns). */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__TRIBUTARY_CONTAINERS__?.stop();
}
