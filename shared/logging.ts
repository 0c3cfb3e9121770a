/**
 * Loggers for the Logger port. Both scrub by construction: properties whose names look secret are
 * dropped, Secret values print as [redacted], and newlines are flattened so one event is one line
 * (a hostile name cannot forge extra log lines).
 */
import type { Logger } from './ports';

const SECRET_KEY = /secret|password|token|authorization|pfx|certificate(bytes|data)?$|material|payload|key$/i;

export function scrubProperties(
  properties: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!properties) return undefined;
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (SECRET_KEY.test(key)) continue;
    clean[key] = typeof value === 'string' ? oneLine(value) : value;
  }
  return clean;
}

export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\r\n\u0000-\u0008\u000b-\u001f\u007f\u2028\u2029]+/g, ' ');
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** The subset of InvocationContext the logger needs (keeps @azure/functions out of shared/). */
export interface InvocationLogSink {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** Logs through the Functions InvocationContext, so lines reach Application Insights with the invocation id. */
export function invocationLogger(context: InvocationLogSink): Logger {
  const write = (level: Level) => (message: string, properties?: Record<string, unknown>) => {
    const props = scrubProperties(properties);
    const line = oneLine(message);
    if (props && Object.keys(props).length > 0) context[level](line, props);
    else context[level](line);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** Logs to a stream (the CLI uses stderr, keeping stdout for the report). */
export function streamLogger(
  stream: { write(text: string): unknown },
  options: { verbose?: boolean } = {},
): Logger {
  const write = (level: Level) => (message: string) => {
    if (level === 'debug' && !options.verbose) return;
    stream.write(`${level === 'info' || level === 'debug' ? '' : `${level}: `}${oneLine(message)}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
