import { isRecord } from '../guards';
/**
 * RFC 9457 problem details as SaaS Manager sends them. Two shapes are seen in the wild: `traceId`
 * at the top level (documented example) and under `extensions` (a real 404), so both are read.
 * Only short, single-line text is kept: these values end up in error messages and logs.
 */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  traceId?: string;
  /** Field name → messages, from validation problems (400). */
  errors?: Record<string, string[]>;
}

const MAX_TEXT = 300;

export function parseProblemDetails(body: unknown): ProblemDetails | undefined {
  if (!isRecord(body)) return undefined;
  const extensions = isRecord(body.extensions) ? body.extensions : {};
  const problem: ProblemDetails = {};
  const type = text(body.type);
  // Some Trelica consumers fall back to `message` when there is no `title`.
  const title = text(body.title) ?? text(body.message);
  const detail = text(body.detail);
  const traceId = text(body.traceId) ?? text(extensions.traceId);
  if (type !== undefined) problem.type = type;
  if (title !== undefined) problem.title = title;
  if (typeof body.status === 'number') problem.status = body.status;
  if (detail !== undefined) problem.detail = detail;
  if (traceId !== undefined) problem.traceId = traceId;
  const errors = parseErrors(body.errors);
  if (errors) problem.errors = errors;
  return Object.keys(problem).length > 0 ? problem : undefined;
}

/** "title: detail; field: message" in one line, for an error message. */
export function summarizeProblem(problem: ProblemDetails | undefined): string | undefined {
  if (!problem) return undefined;
  const parts: string[] = [];
  if (problem.title) parts.push(problem.title);
  if (problem.detail && problem.detail !== problem.title) parts.push(problem.detail);
  if (problem.errors) {
    const fields = Object.entries(problem.errors)
      .slice(0, 3)
      .map(([field, messages]) => `${field}: ${messages.join(' ')}`);
    if (fields.length > 0) parts.push(fields.join('; '));
  }
  return parts.length > 0 ? clip(parts.join(': ')) : undefined;
}

function parseErrors(value: unknown): Record<string, string[]> | undefined {
  if (!isRecord(value)) return undefined;
  const errors: Record<string, string[]> = {};
  for (const [field, messages] of Object.entries(value).slice(0, 10)) {
    const list = (Array.isArray(messages) ? messages : [messages]).map(text).filter((m): m is string => !!m);
    if (list.length > 0) errors[clip(field)] = list;
  }
  return Object.keys(errors).length > 0 ? errors : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const line = value.replace(/[\r\n\t]+/g, ' ').trim();
  return line === '' ? undefined : clip(line);
}

function clip(value: string): string {
  return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value;
}
