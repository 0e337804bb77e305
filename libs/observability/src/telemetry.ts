import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator, CompositePropagator, W3CBaggagePropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /** OTLP/HTTP endpoint (e.g. http://collector:4318); when absent and no exporter is given, spans are not exported. */
  otlpEndpoint?: string;
  /** An exporter to use instead of OTLP, e.g. an InMemorySpanExporter in tests (exported synchronously). */
  exporter?: SpanExporter;
}

let provider: NodeTracerProvider | undefined;

/**
 * Installs the process-wide tracer provider and W3C propagators once. Later calls are no-ops, so several services
 * started in one test process share one provider (and one in-memory exporter).
 */
export function startTelemetry(options: TelemetryOptions): void {
  if (provider) return;
  const processors: SpanProcessor[] = [];
  if (options.exporter) processors.push(new SimpleSpanProcessor(options.exporter));
  else if (options.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    );
  }
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      [ATTR_SERVICE_VERSION]: options.serviceVersion ?? '0.1.0',
    }),
    spanProcessors: processors,
  });
  provider.register({
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  });
}

/** Flushes and shuts the tracer provider down (on SIGTERM, or between test files). */
export async function stopTelemetry(): Promise<void> {
  const current = provider;
  provider = undefined;
  if (!current) return;
  await current.forceFlush();
  await current.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
}

/** The tracer Tributary code uses; spans are tagged with the emitting service through attributes. */
export function tributaryTracer(): Tracer {
  return trace.getTracer('tributary');
}
