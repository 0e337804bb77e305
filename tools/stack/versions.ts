// The one place that says which versions the local stack provisions and runs.
// Cache directories and binaries are keyed by these, so bumping one triggers a fresh download/build.

export const VERSIONS = {
  /** Apache Kafka broker + controller (KRaft), assembled from Maven Central jars. */
  kafka: '4.1.1',
  /** Scala suffix of the kafka_<scala> core artifact. */
  kafkaScala: '2.13',
  /** Must match the log4j-core that Kafka pulls in: the slf4j 1.7 -> log4j2 binding we add. */
  log4j: '2.24.3',
  /** Apicurio Registry (Confluent-compatible API at /apis/ccompat/v7), Quarkus tarball from Maven Central. */
  apicurio: '3.3.3',
  /** FerretDB (MongoDB wire protocol on PostgreSQL or SQLite), built from the Go module proxy. */
  ferretdb: 'v1.24.2',
  /**
   * Our patches applied to its source before the build (tools/stack/patches/, in name order). Bump this when they
   * change: the binary's cache name carries it, so every checkout rebuilds once.
   */
  ferretdbPatchLevel: 11,
} as const;

/** The patches of FerretDB, relative to tools/stack. */
export const FERRETDB_PATCHES = ['patches/ferretdb-v1.24.2-postgresql.patch'] as const;

/** Minimum Java major versions: Kafka 4 brokers need 17, the Apicurio 3 jars are class file 65 (Java 21). */
export const JAVA_MIN = {
  kafka: 17,
  registry: 21,
} as const;
