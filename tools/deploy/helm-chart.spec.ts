/**
 * Renders deploy/helm/tributary with a real `helm template` and checks what the platform team will apply: per
 * service a Deployment with probes, resources and a hardened pod, a Service, a PodDisruptionBudget and an HPA (or a
 * KEDA ScaledObject with consumer-lag triggers), and an environment that passes the service's own config schema.
 * helm comes from tools/deploy/ensure-helm.sh (CI runs it); without it this suite is skipped, loudly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { ConfigError, type ServiceConfig } from '@tributary/config';
import { SERVICE_ENTRIES, configLoaderOf } from '../services/service-list';

type Env = Record<string, string | undefined>;

const root = join(__dirname, '..', '..');
const chartDir = join(root, 'deploy', 'helm', 'tributary');
const RELEASE = 'tributary';
// helm template assumes a Kubernetes version unless told; pin one the chart supports (kubeVersion >= 1.25).
const KUBE_VERSION = '1.30.0';
const WRITE_KEYS = 'test-key:ws_test,other-key:ws_other';

// Every service of the one list (tools/services/services.json), checked against its own config loader.
const APPS = SERVICE_ENTRIES.map((s) => s.name);
const CONSUMERS = SERVICE_ENTRIES.filter((s) => s.consumes).map((s) => s.name);
const NON_CONSUMERS = SERVICE_ENTRIES.filter((s) => !s.consumes).map((s) => s.name);
const loaders = new Map(SERVICE_ENTRIES.map((s) => [s.name, configLoaderOf(s)] as const));

// --- The Kubernetes shapes the checks read -----------------------------------------------------------------

interface Metadata {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface KeyRef {
  name: string;
  key: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef };
}
interface EnvFromSource {
  configMapRef?: { name: string };
  secretRef?: { name: string };
}
interface HttpProbe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  startupProbe?: HttpProbe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: {
    requests?: Record<string, string | number>;
    limits?: Record<string, string | number>;
  };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Deployment {
  kind: 'Deployment';
  metadata: Metadata;
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: Metadata;
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
        volumes?: { name: string; emptyDir?: object }[];
      };
    };
  };
}
interface ScaleTargetRef {
  apiVersion?: string;
  kind: string;
  name: string;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    selector?: Record<string, string> | { matchLabels?: Record<string, string> };
    ports?: { name?: string; port: number; targetPort?: string | number }[];
    minAvailable?: number | string;
    maxUnavailable?: number | string;
    scaleTargetRef?: ScaleTargetRef;
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: {
      type: string;
      resource?: { name: string; target: { type: string; averageUtilization?: number } };
    }[];
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: { type: string; metricType?: string; metadata: Record<string, string> }[];
  };
}

interface Catalog {
  topics: { name: string; consumers: string[]; partitions: number }[];
}

// --- helm --------------------------------------------------------------------------------------------------

function findHelm(): string | undefined {
  const cache = process.env['TRIBUTARY_CACHE_DIR'] ?? join(homedir(), '.cache', 'tributary');
  const candidates = [process.env['TRIBUTARY_HELM'], join(cache, 'bin', 'helm'), 'helm'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    if (candidate.includes('/') && !existsSync(candidate)) continue;
    if (spawnSync(candidate, ['version', '--short'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

const helm = findHelm();

class RenderError extends Error {}

/**
 * `helm template` with the given --set pairs (typed: true, 3) and write keys (--set-literal, as the commas in
 * "key:ws,key:ws" would split a --set); the rendered documents, or a RenderError with helm's message.
 */
function render(sets: Record<string, string> = {}, writeKeys: string | null = WRITE_KEYS): K8sObject[] {
  if (!helm) throw new Error('helm is not available');
  const args = ['template', RELEASE, chartDir, '--namespace', 'tributary', '--kube-version', KUBE_VERSION];
  if (writeKeys !== null) args.push('--set-literal', `writeKeys.value=${writeKeys}`);
  // Ingestion refuses to start in production without an admin token, orchestration without an unsubscribe-link key
  // and a content-secrets key; every render supplies them unless a test overrides them.
  const withAdmin = {
    'services.ingestion.secretEnv.ADMIN_TOKEN': 'chart-test-admin-token-0123456789abcdef',
    'services.orchestration.secretEnv.UNSUBSCRIBE_SECRET': 'chart-test-unsubscribe-secret-0123456789',
    'services.orchestration.secretEnv.CONTENT_SECRETS_KEY': 'chart-test-content-secrets-key-0123456789',
    'services.sync.secretEnv.SYNC_CREDENTIALS_KEYS': 'k1:chart-test-sync-credentials-key-0123456789',
    ...sets,
  };
  for (const [key, value] of Object.entries(withAdmin)) args.push('--set', `${key}=${value}`);
  const result = spawnSync(helm, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new RenderError(result.stderr.trim());
  return loadAll(result.stdout).filter((doc): doc is K8sObject => !!doc && typeof doc === 'object');
}

function find(docs: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return docs.find((d) => d.kind === kind && d.metadata.name === name);
}

function mustFind(docs: K8sObject[], kind: string, name: string): K8sObject {
  const doc = find(docs, kind, name);
  if (!doc) {
    const present = docs.map((d) => `${d.kind}/${d.metadata.name}`).join(', ');
    throw new Error(`${kind}/${name} not rendered (rendered: ${present})`);
  }
  return doc;
}

function deploymentOf(docs: K8sObject[], app: string): Deployment {
  return mustFind(docs, 'Deployment', `${RELEASE}-${app}`) as unknown as Deployment;
}

function containerOf(deployment: Deployment): Container {
  const [container, ...others] = deployment.spec.template.spec.containers;
  expect(others).toEqual([]);
  if (!container) throw new Error(`${deployment.metadata.name} has no container`);
  return container;
}

function secretData(secret: K8sObject): Record<string, string> {
  const decoded = Object.entries(secret.data ?? {}).map(
    ([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')] as const,
  );
  return { ...Object.fromEntries(decoded), ...(secret.stringData ?? {}) };
}

/**
 * The environment Kubernetes would give the container: envFrom sources in order, then env entries (which win).
 * References to Secrets the chart does not render (existing ones) resolve to `external`.
 */
function resolveEnv(docs: K8sObject[], container: Container, external: Env = {}): Env {
  const env: Env = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, mustFind(docs, 'ConfigMap', source.configMapRef.name).data);
    if (source.secretRef) Object.assign(env, secretData(mustFind(docs, 'Secret', source.secretRef.name)));
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref) {
      const secret = find(docs, 'Secret', ref.name);
      env[variable.name] = secret ? secretData(secret)[ref.key] : external[`${ref.name}/${ref.key}`];
    } else {
      env[variable.name] = variable.value ?? '';
    }
  }
  return env;
}

function loadConfig(app: string, env: Env): ServiceConfig {
  const loader = loaders.get(app);
  if (!loader) throw new Error(`${app} is not in tools/services/services.json`);
  try {
    return loader(env);
  } catch (error) {
    throw error instanceof ConfigError ? new Error(error.message) : error;
  }
}

interface Values {
  kafka: { brokers: string; topicReplicationFactor: string };
  schemaRegistry: { url: string };
  mongo: { url: string };
  config: Record<string, string>;
  services: Record<
    string,
    {
      port: number;
      env: Record<string, string>;
      autoscaling: {
        minReplicas: number;
        maxReplicas: number;
        targetCPUUtilizationPercentage: number;
        kafkaLag: { topics: string[]; lagThreshold: string };
      };
    }
  >;
}
const values = load(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values;
const catalog = load(readFileSync(join(root, 'schemas', 'catalog.yaml'), 'utf8')) as Catalog;

/** A service's block in values.yaml (the sync adds one per listed service). */
function valuesOf(app: string): Values['services'][string] {
  const block = values.services[app];
  if (!block) throw new Error(`values.yaml has no services.${app} (run npm run services:sync)`);
  return block;
}

if (!helm) {
  console.warn(
    'helm-chart.spec.ts: SKIPPED - no helm binary (TRIBUTARY_HELM, $TRIBUTARY_CACHE_DIR/bin/helm or PATH). ' +
      'Install it with: bash tools/deploy/ensure-helm.sh',
  );
}
const describeWithHelm = helm ? describe : describe.skip;

describeWithHelm(
  `helm chart deploy/helm/tributary${helm ? '' : ' (SKIPPED: no helm; run tools/deploy/ensure-helm.sh)'}`,
  () => {
    let docs: K8sObject[];
    beforeAll(() => {
      docs = render();
    });

    it('lints cleanly', () => {
      const result = spawnSync(
        helm as string,
        [
          'lint',
          chartDir,
          '--strict',
          '--kube-version',
          KUBE_VERSION,
          '--set-literal',
          `writeKeys.value=${WRITE_KEYS}`,
        ],
        { encoding: 'utf8' },
      );
      expect(`${result.stdout}${result.stderr}`).toContain('0 chart(s) failed');
      expect(result.status).toBe(0);
    });

    it('renders one Deployment, Service, PodDisruptionBudget and HPA per service, and nothing for KEDA', () => {
      const count = (kind: string) => docs.filter((d) => d.kind === kind).length;
      expect(count('Deployment')).toBe(APPS.length);
      expect(count('Service')).toBe(APPS.length);
      expect(count('PodDisruptionBudget')).toBe(APPS.length);
      expect(count('HorizontalPodAutoscaler')).toBe(APPS.length);
      expect(count('ScaledObject')).toBe(0);
      expect(count('ConfigMap')).toBe(1);
    });

    it('refuses to render without write keys', () => {
      expect(() => render({}, null)).toThrow(/writeKeys/);
    });

    it('rejects values the schema does not know (typos in service names)', () => {
      expect(() => render({ 'services.scorring.port': '1' })).toThrow(/scorring/);
    });

    describe.each(APPS)('%s', (app) => {
      const name = `${RELEASE}-${app}`;
      const port = valuesOf(app).port;

      it('probes /health/live (startup, liveness) and /health/ready (readiness) on its HTTP port', () => {
        const container = containerOf(deploymentOf(docs, app));
        expect(container.ports).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
        expect(container.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
        expect(container.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });
        expect(container.startupProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
        // The HTTP server starts once the consumers have joined their group: allow at least a minute.
        const startup = container.startupProbe;
        expect((startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3)).toBeGreaterThanOrEqual(60);
        expect(container.image).toBe(`tributary/${app}:0.1.0`);
      });

      it('sets CPU and memory requests and limits', () => {
        const { resources } = containerOf(deploymentOf(docs, app));
        for (const bound of [resources?.requests, resources?.limits]) {
          expect(bound).toEqual(
            expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }),
          );
        }
      });

      it('runs non-root on a read-only root filesystem with /tmp as scratch space', () => {
        const deployment = deploymentOf(docs, app);
        const container = containerOf(deployment);
        expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
        expect(container.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.securityContext?.runAsUser).toBeGreaterThan(0);
        expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
        expect(deployment.spec.template.spec.volumes).toContainEqual(
          expect.objectContaining({ name: 'tmp', emptyDir: expect.any(Object) }),
        );
      });

      it('gives the graceful Kafka shutdown time to finish before SIGKILL', () => {
        const deployment = deploymentOf(docs, app);
        const container = containerOf(deployment);
        const grace = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        const preStop = Number(container.lifecycle?.preStop?.exec?.command.at(-1) ?? 0);
        const config = loadConfig(app, resolveEnv(docs, container));
        expect(grace).toBeGreaterThanOrEqual(30);
        expect(grace).toBeGreaterThan(preStop + config.SHUTDOWN_TIMEOUT_MS / 1000);
      });

      it("has an environment (values + ConfigMap + Secret) that passes the service's config schema", () => {
        const container = containerOf(deploymentOf(docs, app));
        const config = loadConfig(app, resolveEnv(docs, container));
        expect(config.HTTP_HOST).toBe('0.0.0.0');
        expect(config.HTTP_PORT).toBe(port);
        expect(config.KAFKA_BROKERS).toEqual(values.kafka.brokers.split(','));
        expect(config.SCHEMA_REGISTRY_URL).toBe(values.schemaRegistry.url);
        expect(config.MONGO_URL).toBe(values.mongo.url);
        expect(config.WRITE_KEYS).toBe(WRITE_KEYS);
        expect(config.TOPIC_REPLICATION_FACTOR).toBe(Number(values.kafka.topicReplicationFactor));
        expect(config.SHUTDOWN_TIMEOUT_MS).toBe(Number(values.config['SHUTDOWN_TIMEOUT_MS']));
        const own = config as unknown as Record<string, unknown>;
        const env = resolveEnv(docs, container);
        for (const [key, value] of Object.entries(valuesOf(app).env)) {
          // NODE_OPTIONS is Node's, not the service's: it reaches the process, which is all it needs.
          expect(key === 'NODE_OPTIONS' ? env[key] : String(own[key])).toBe(value);
        }
      });

      it("gives Node its heap bound: the service's NODE_OPTIONS, else the shared one, within the memory limit", () => {
        const container = containerOf(deploymentOf(docs, app));
        const env = resolveEnv(docs, container);
        const options = valuesOf(app).env['NODE_OPTIONS'] ?? values.config['NODE_OPTIONS'];
        expect(env['NODE_OPTIONS']).toBe(options);
        const heapMib = Number(/--max-old-space-size=(\d+)/.exec(env['NODE_OPTIONS'] ?? '')?.[1]);
        const limit = /^(\d+)(Mi|Gi)$/.exec(String(container.resources?.limits?.['memory']));
        const limitMib = Number(limit?.[1]) * (limit?.[2] === 'Gi' ? 1024 : 1);
        // The heap is one part of the process: the binary, buffers and the young generation need the rest.
        expect(heapMib).toBeGreaterThan(0);
        expect(heapMib).toBeLessThanOrEqual(limitMib / 2);
      });

      it('takes WRITE_KEYS from a Secret, never from the ConfigMap', () => {
        const container = containerOf(deploymentOf(docs, app));
        for (const source of container.envFrom ?? []) {
          if (source.configMapRef) {
            expect(mustFind(docs, 'ConfigMap', source.configMapRef.name).data).not.toHaveProperty(
              'WRITE_KEYS',
            );
          }
        }
        const secrets = (container.envFrom ?? []).flatMap((s) => (s.secretRef ? [s.secretRef.name] : []));
        expect(secrets.some((s) => 'WRITE_KEYS' in secretData(mustFind(docs, 'Secret', s)))).toBe(true);
      });

      it('is reachable through a Service on its port, selecting exactly its pods', () => {
        const deployment = deploymentOf(docs, app);
        const service = mustFind(docs, 'Service', name);
        expect(service.spec?.ports).toEqual([{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }]);
        expect(deployment.spec.template.metadata.labels).toMatchObject(
          service.spec?.selector ?? { none: 'x' },
        );
        expect(service.spec?.selector).toEqual(deployment.spec.selector.matchLabels);
      });

      it('has a PodDisruptionBudget over its pods', () => {
        const deployment = deploymentOf(docs, app);
        const pdb = mustFind(docs, 'PodDisruptionBudget', name);
        expect(pdb.apiVersion).toBe('policy/v1');
        expect(pdb.spec?.selector).toEqual({ matchLabels: deployment.spec.selector.matchLabels });
        expect(pdb.spec?.minAvailable ?? pdb.spec?.maxUnavailable).toBeDefined();
      });

      it('is scaled on CPU by an HPA (which owns the replica count)', () => {
        const deployment = deploymentOf(docs, app);
        const hpa = mustFind(docs, 'HorizontalPodAutoscaler', name);
        const { autoscaling } = valuesOf(app);
        expect(hpa.apiVersion).toBe('autoscaling/v2');
        expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
        expect(hpa.spec?.minReplicas).toBe(autoscaling.minReplicas);
        expect(hpa.spec?.maxReplicas).toBe(autoscaling.maxReplicas);
        expect(hpa.spec?.minReplicas).toBeLessThanOrEqual(hpa.spec?.maxReplicas ?? 0);
        expect(hpa.spec?.metrics).toEqual([
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: { type: 'Utilization', averageUtilization: autoscaling.targetCPUUtilizationPercentage },
            },
          },
        ]);
        expect(deployment.spec.replicas).toBeUndefined();
      });
    });

    describe('with autoscaling.kafkaLag enabled for the consumers', () => {
      let lagDocs: K8sObject[];
      beforeAll(() => {
        lagDocs = render(
          Object.fromEntries(
            CONSUMERS.map((app) => [`services.${app}.autoscaling.kafkaLag.enabled`, 'true']),
          ),
        );
      });

      it.each(NON_CONSUMERS)('keeps the HPA for %s, which consumes nothing', (app) => {
        expect(find(lagDocs, 'HorizontalPodAutoscaler', `${RELEASE}-${app}`)).toBeDefined();
        expect(find(lagDocs, 'ScaledObject', `${RELEASE}-${app}`)).toBeUndefined();
      });

      it('refuses kafkaLag for a service without topics', () => {
        expect(() => render({ 'services.ingestion.autoscaling.kafkaLag.enabled': 'true' })).toThrow(
          /no topics/,
        );
      });

      it.each(CONSUMERS)(
        '%s: a KEDA ScaledObject (CPU + lag of its group on every topic it consumes) replaces the HPA',
        (app) => {
          const name = `${RELEASE}-${app}`;
          expect(find(lagDocs, 'HorizontalPodAutoscaler', name)).toBeUndefined();
          const scaled = mustFind(lagDocs, 'ScaledObject', name);
          const { autoscaling } = valuesOf(app);
          expect(scaled.apiVersion).toBe('keda.sh/v1alpha1');
          expect(scaled.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
          expect(scaled.spec?.minReplicaCount).toBe(autoscaling.minReplicas);
          expect(scaled.spec?.maxReplicaCount).toBe(autoscaling.maxReplicas);

          const triggers = scaled.spec?.triggers ?? [];
          expect(triggers.filter((t) => t.type === 'cpu')).toEqual([
            {
              type: 'cpu',
              metricType: 'Utilization',
              metadata: { value: String(autoscaling.targetCPUUtilizationPercentage) },
            },
          ]);
          const kafka = triggers.filter((t) => t.type === 'kafka');
          // The group the service really joins, per its own config.
          const container = containerOf(deploymentOf(lagDocs, app));
          const config = loadConfig(app, resolveEnv(lagDocs, container));
          for (const trigger of kafka) {
            expect(trigger.metadata).toMatchObject({
              bootstrapServers: config.KAFKA_BROKERS.join(','),
              consumerGroup: config.CONSUMER_GROUP,
              lagThreshold: autoscaling.kafkaLag.lagThreshold,
            });
          }
          // Exactly the topics the catalog says this service consumes.
          const consumed = catalog.topics.filter((t) => t.consumers.includes(app));
          expect(kafka.map((t) => t.metadata['topic']).sort()).toEqual(consumed.map((t) => t.name).sort());
          // Replicas beyond the largest partition count would own no partition at all.
          const partitions = Math.max(...consumed.map((t) => t.partitions));
          expect(autoscaling.maxReplicas).toBeLessThanOrEqual(partitions);
        },
      );
    });

    describe('secrets', () => {
      it('reads WRITE_KEYS and MONGO_URL from existing Secrets when named, and renders no Secret of its own', () => {
        const existing = render(
          { 'writeKeys.existingSecret': 'tributary-keys', 'mongo.existingSecret': 'tributary-mongo' },
          null,
        );
        // Only the services' own Secrets (ADMIN_TOKEN, UNSUBSCRIBE_SECRET, CONTENT_SECRETS_KEY, SYNC_CREDENTIALS_KEYS)
        // remain; no shared Secret for keys or Mongo.
        expect(existing.filter((d) => d.kind === 'Secret').map((d) => d.metadata?.name)).toEqual([
          `${RELEASE}-ingestion`,
          `${RELEASE}-orchestration`,
          `${RELEASE}-sync`,
        ]);
        const configMap = existing.find((d) => d.kind === 'ConfigMap');
        expect(configMap?.data).not.toHaveProperty('MONGO_URL');
        for (const app of APPS) {
          const container = containerOf(deploymentOf(existing, app));
          expect(container.env).toContainEqual({
            name: 'WRITE_KEYS',
            valueFrom: { secretKeyRef: { name: 'tributary-keys', key: 'WRITE_KEYS' } },
          });
          expect(container.env).toContainEqual({
            name: 'MONGO_URL',
            valueFrom: { secretKeyRef: { name: 'tributary-mongo', key: 'MONGO_URL' } },
          });
          const env = resolveEnv(existing, container, {
            'tributary-keys/WRITE_KEYS': 'k:ws',
            'tributary-mongo/MONGO_URL': 'mongodb+srv://user:pw@cluster.example.net',
          });
          expect(loadConfig(app, env).MONGO_URL).toBe('mongodb+srv://user:pw@cluster.example.net');
        }
      });

      it('moves MONGO_URL into the Secret with mongo.urlInSecret', () => {
        const url = 'mongodb://user:pw@mongo.example.net:27017';
        const inSecret = render({ 'mongo.urlInSecret': 'true', 'mongo.url': url });
        expect(inSecret.find((d) => d.kind === 'ConfigMap')?.data).not.toHaveProperty('MONGO_URL');
        expect(secretData(mustFind(inSecret, 'Secret', `${RELEASE}-secrets`))['MONGO_URL']).toBe(url);
        for (const app of APPS) {
          const env = resolveEnv(inSecret, containerOf(deploymentOf(inSecret, app)));
          expect(loadConfig(app, env).MONGO_URL).toBe(url);
        }
      });

      it("puts a service's secretEnv in its own Secret", () => {
        const withSecrets = render({
          'services.ingestion.secretEnv.WEBHOOK_SECRETS': 'ws_test:hubspot:s3cret',
        });
        const secret = mustFind(withSecrets, 'Secret', `${RELEASE}-ingestion`);
        expect(secretData(secret)).toEqual({
          ADMIN_TOKEN: 'chart-test-admin-token-0123456789abcdef',
          WEBHOOK_SECRETS: 'ws_test:hubspot:s3cret',
        });
        const container = containerOf(deploymentOf(withSecrets, 'ingestion'));
        expect(container.envFrom).toContainEqual({ secretRef: { name: `${RELEASE}-ingestion` } });
        expect(() => loadConfig('ingestion', resolveEnv(withSecrets, container))).not.toThrow();
      });
    });

    describe('guards', () => {
      it('catches a bad value through the config schema, naming the key', () => {
        const bad = render({ 'config.LOG_LEVEL': 'verbose' });
        const env = resolveEnv(bad, containerOf(deploymentOf(bad, 'leads')));
        expect(() => loadConfig('leads', env)).toThrow(/LOG_LEVEL/);
      });

      it('refuses a termination grace period too short for the shutdown timeout', () => {
        expect(() => render({ terminationGracePeriodSeconds: '20' })).toThrow(RenderError);
        expect(() => render({ 'config.SHUTDOWN_TIMEOUT_MS': '60000' })).toThrow(/SHUTDOWN_TIMEOUT_MS/);
      });

      it('renders fixed replicas when autoscaling is off', () => {
        const fixed = render({ 'services.sync.autoscaling.enabled': 'false', 'services.sync.replicas': '3' });
        expect(deploymentOf(fixed, 'sync').spec.replicas).toBe(3);
        expect(find(fixed, 'HorizontalPodAutoscaler', `${RELEASE}-sync`)).toBeUndefined();
      });
    });
  },
);
