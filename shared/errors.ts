/**
 * The small error vocabulary of the product. Every error that crosses a boundary (trigger, CLI,
 * report) is an AppError: a stable `code`, a message written for an admin, an optional `hint`
 * that says what to do, and an optional HTTP `status` when an HTTP call produced it.
 *
 * Messages never carry secrets: adapters build them from method, path (without query secrets),
 * status and the service's problem title, never from bodies, tokens or certificate bytes.
 */
export interface AppErrorOptions {
  hint?: string;
  status?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly status?: number;

  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.status !== undefined) this.status = options.status;
  }

  /** A setup error means nothing could be processed (CLI exit code 2, failed timer invocation). */
  get isSetupError(): boolean {
    return false;
  }

  /** One line for logs and reports: message plus hint. */
  describe(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/** Bad or missing settings. `problems` lists every one, so the admin fixes them in one go. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ConfigInvalid', `Invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      hint: 'set the app settings (Azure) or environment variables (local) named above; see the README configuration table',
    });
    this.problems = problems;
  }

  override get isSetupError(): boolean {
    return true;
  }
}

export interface WorkflowApiErrorDetails extends AppErrorOptions {
  method?: string;
  /** Path and query of the request, never with secret values. */
  path?: string;
  title?: string;
  detail?: string;
  traceId?: string;
  /** True when the problem stops the whole sweep (auth refused, workflow or step not found). */
  setup?: boolean;
}

export class WorkflowApiError extends AppError {
  readonly method?: string;
  readonly path?: string;
  readonly title?: string;
  readonly detail?: string;
  readonly traceId?: string;
  private readonly setup: boolean;

  constructor(code: string, message: string, details: WorkflowApiErrorDetails = {}) {
    super(code, message, details);
    if (details.method !== undefined) this.method = details.method;
    if (details.path !== undefined) this.path = details.path;
    if (details.title !== undefined) this.title = details.title;
    if (details.detail !== undefined) this.detail = details.detail;
    if (details.traceId !== undefined) this.traceId = details.traceId;
    this.setup = details.setup ?? false;
  }

  override get isSetupError(): boolean {
    return this.setup;
  }
}

/** The Exchange certificate could not be loaded or is not usable. Always a setup error. */
export class CertificateError extends AppError {
  override get isSetupError(): boolean {
    return true;
  }
}

export interface ExchangeErrorDetails extends AppErrorOptions {
  /** True when PowerShell or the Exchange connection itself failed (not a single run's action). */
  setup?: boolean;
}

export class ExchangeError extends AppError {
  private readonly setup: boolean;

  constructor(code: string, message: string, details: ExchangeErrorDetails = {}) {
    super(code, message, details);
    this.setup = details.setup ?? false;
  }

  override get isSetupError(): boolean {
    return this.setup;
  }
}

/** Normalise anything thrown into an AppError without copying unknown payloads into the message. */
export function ensureAppError(thrown: unknown): AppError {
  if (thrown instanceof AppError) return thrown;
  if (thrown instanceof Error) {
    return new AppError('Unexpected', `Unexpected error: ${thrown.name}: ${firstLine(thrown.message)}`, {
      cause: thrown,
    });
  }
  return new AppError('Unexpected', `Unexpected error: ${typeof thrown}`);
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
