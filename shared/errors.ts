/**
 * The small error vocabulary of the product. Every error that crosses a boundary (trigger, CLI,
 * report) is an AppError: a stable `code` from the unions below, a message written for an admin,
 * an optional `hint` that says what to do, and, apart from each other:
 * - `upstreamStatus`: the HTTP status a service (SaaS Manager, Key Vault, an identity endpoint)
 *   answered when that produced the error;
 * - `httpStatus`: what our own HTTP API answers for it (from the code alone, in one table).
 *
 * Messages never carry secrets: adapters build them from method, path (without query secrets),
 * status and the service's problem title, never from bodies, tokens or certificate bytes.
 */

import { firstLine } from './text';

/** SaaS Manager's workflow API and its token endpoint. */
export type WorkflowApiCode =
  | 'WorkflowNotFound'
  | 'WorkflowAmbiguous'
  | 'StepNotFound'
  | 'StepAmbiguous'
  | 'ActionNotFound'
  | 'BadResponse'
  | 'PagingLoop'
  | 'RunGone'
  | 'SignalRejected'
  | 'SignalFailed'
  | 'SignalUncertain'
  | 'ClientRefused'
  | 'TokenRequestFailed'
  | 'InvalidBaseUrl'
  | 'UnexpectedHost'
  | 'Timeout'
  | 'Unreachable'
  | 'Unauthorized'
  | 'Forbidden'
  | 'Redirected'
  | 'NotFound'
  | 'RateLimited'
  | 'ServerError'
  | 'RequestFailed';

/** The Exchange certificate, from Key Vault or a file, and the identity that reads it. */
export type CertificateCode =
  | 'CertificateSourceMissing'
  | 'CertificateContentTypeUnknown'
  | 'CertificateDisabled'
  | 'CertificateExpired'
  | 'CertificateNotYetValid'
  | 'CertificateFileNotFound'
  | 'CertificateFileUnreadable'
  | 'CertificateUnreadable'
  | 'CertificateInvalid'
  | 'CertificateKeyMismatch'
  | 'CertificateNoPrivateKey'
  | 'CertificatePasswordWrong'
  | 'KeyVaultCertificateNotFound'
  | 'KeyVaultSecretNotFound'
  | 'KeyVaultForbidden'
  | 'KeyVaultUnauthorized'
  | 'KeyVaultUnreachable'
  | 'KeyVaultRequestFailed';

/** Azure identity, for anything but Key Vault (storage). */
export type IdentityCode = 'ManagedIdentityUnavailable' | 'AzureCliCredentialUnavailable';

/** PowerShell and the Exchange Online session. */
export type ExchangeCode =
  | 'PowerShellNotFound'
  | 'PowerShellStartFailed'
  | 'PowerShellProbeFailed'
  | 'ExchangeModuleMissing'
  | 'ExchangeModuleNotFound'
  | 'ExchangeConnectFailed'
  | 'ExchangeConnectInvalid'
  | 'ExchangeConnectTimeout'
  | Extract<CertificateCode, 'CertificateInvalid' | 'CertificateNoPrivateKey' | 'CertificateExpired'>;

/** The run records (Table Storage, or a local folder). */
export type RunRecordCode =
  'RunIdInvalid' | 'RunRecordInvalid' | 'RunRecordsUnavailable' | 'JournalInvalid' | 'JournalUnavailable';

/** Fan-out on the exo-runs queue (SWEEP_MODE=queue). */
export type QueueCode =
  'QueueStorageMissing' | 'RunQueueUnavailable' | 'QueueMessageInvalid' | 'QueuedRunFailed';

/** The sweep use case itself: a rerun of a run that is not there, or not waiting. */
export type SweepCode = 'RunNotFound' | 'RunNotWaiting';

/** Undo of a run (issue 17): an undo is never undone, and the journal must say what the run changed. */
export type UndoCode = 'UndoOfUndo' | 'UndoNotPossible';

export type ErrorCode =
  | 'ConfigInvalid'
  | 'Unexpected'
  | WorkflowApiCode
  | CertificateCode
  | IdentityCode
  | ExchangeCode
  | RunRecordCode
  | QueueCode
  | SweepCode
  | UndoCode;

/** What our HTTP API answers per code; anything not listed is our failure (500). */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  RunNotFound: 404,
  RunNotWaiting: 409,
  UndoOfUndo: 409,
  UndoNotPossible: 409,
};

export interface AppErrorOptions {
  hint?: string;
  /** The HTTP status the upstream service answered, when an HTTP call produced the error. */
  upstreamStatus?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly upstreamStatus?: number;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.upstreamStatus !== undefined) this.upstreamStatus = options.upstreamStatus;
  }

  /** What our HTTP API answers for this error (never the upstream's status). */
  get httpStatus(): number {
    return HTTP_STATUS[this.code] ?? 500;
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

  declare readonly code: WorkflowApiCode;

  constructor(code: WorkflowApiCode, message: string, details: WorkflowApiErrorDetails = {}) {
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
  declare readonly code: CertificateCode | IdentityCode;

  constructor(code: CertificateCode | IdentityCode, message: string, options: AppErrorOptions = {}) {
    super(code, message, options);
  }

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

  declare readonly code: ExchangeCode;

  constructor(code: ExchangeCode, message: string, details: ExchangeErrorDetails = {}) {
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
