// The only file that imports the OpenTelemetry packages: ./export.ts loads it on first need (when a
// collector is named), so neither the start-up nor the snapshot carries them.
export { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
export { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
export { resourceFromAttributes } from '@opentelemetry/resources';
export { ROOT_CONTEXT, trace } from '@opentelemetry/api';
export { SeverityNumber } from '@opentelemetry/api-logs';
