/**
 * ExchangeShell over node-powershell: one long-lived PowerShell process per sweep, started on first
 * need, running our module ExoActions.psm1 (all PowerShell logic lives there). This is the only file
 * that knows a session's lifecycle; node-powershell itself is imported by powerShellSession.ts, the
 * payloads and result parsing are plain code in exoResults.ts, sign-in errors in connectErrors.ts.
 *
 * The boundary, and why:
 * - Node sends only constant command lines; run data follows as one base64 JSON data line that the
 *   module reads itself, so no run data is ever parsed as code (node-powershell's own template
 *   "escaping" is not injection-safe).
 * - Each call answers with exactly one JSON line on stdout; warnings travel inside it.
 * - Every call has a timeout. node-powershell's invocationTimeout neither kills the process nor frees
 *   the session, so we race the call ourselves and kill the process: the run that was in flight is
 *   `failed` (what it changed is unknown) and the next run gets a fresh process and connection.
 * - Every command line is constant (`Connect-ExoSession`, `Invoke-ExoRunPlan`, ...). A payload travels
 *   as the one data line that follows its command, which the module reads itself from stdin: command
 *   text is what transcription and script block logging record, so the certificate (and run data)
 *   never reaches a transcript. node-powershell's `debug` output is forced off and its `history` is
 *   emptied after each call, so no payload lingers in memory, logs or errors.
 * - The child gets an allow-listed environment (childEnvironment.ts) and is started as exactly one
 *   process (findPowerShell.ts runs a .NET tool's pwsh.dll directly). A session ends with `exit`; a
 *   process that does not leave in time is killed, with anything it started.
 */
import path from 'node:path';
import { ExchangeError } from '../errors';
import type { ExchangeShell, Logger } from '../ports';
import type {
  ExchangeApply,
  ExchangeConnection,
  ExchangeLook,
  ExchangeRunResult,
  ExchangeUndoApply,
  ExchangeUndoLook,
  RunPlan,
  ShellProbe,
  UndoPlan,
} from '../domain';
import { childEnvironment } from './childEnvironment';
import { sessionSettingsFor, settingsArguments, type SessionSettings } from './sessionSettings';
import { connectErrorCode, connectHint, describeProcessError } from './connectErrors';
import {
  actionResults,
  appliedOf,
  connectPayload,
  errorOf,
  failedRun,
  lookOf,
  planPayload,
  redact,
  subjectsOf,
  undoAppliedOf,
  undoLookOf,
  undoPayload,
} from './exoResults';
import { encodeDataLine, parseResultLine } from './exoProtocol';
import { POWERSHELL_SETUP_HINT, type FoundPowerShell, type PowerShellLaunch } from './findPowerShell';
import { exitPromiseOf, PinnedPowerShell, processOf, silenceDebugOutput } from './powerShellSession';
import { descendantPids, killPids } from './processTree';
import { type ThrottleEvent, throttleEventsOf } from './throttleGovernor';

export interface PowerShellExchangeShellOptions {
  /** The PowerShell to run (see findPowerShell); used as given, whatever NODE_POWERSHELL says. */
  powerShell: FoundPowerShell;
  /** ExoActions.psm1; by default the copy next to this file (the build copies it to dist/). */
  modulePath?: string;
  /** Longest wait for one run's Exchange work before the session is killed. */
  callTimeoutMs: number;
  /** Longest wait for Connect-ExchangeOnline (default: the larger of callTimeoutMs and 120 s). */
  connectTimeoutMs?: number;
  /** Longest wait for PowerShell to start and load the module (default: the larger of callTimeoutMs and 60 s). */
  startTimeoutMs?: number;
  /**
   * Where the PowerShell process's environment is taken from (default process.env); only the
   * allow-listed names pass (childEnvironment.ts), so PSModulePath decides which Exchange module loads.
   */
  env?: NodeJS.ProcessEnv;
  /** `managedIdentity` passes IDENTITY_ENDPOINT / IDENTITY_HEADER to the process; nothing else does. */
  exchangeAuth?: 'certificate' | 'managedIdentity';
  logger?: Logger;
  /** Throttling signals of each run call (the session pool's governor, issue 14). */
  onThrottle?: (events: ThrottleEvent[]) => void;
  /** The settings file each process starts with (default: sessionSettingsFor the launch; see sessionSettings.ts). */
  settings?: SessionSettings;
}

const SETUP_HINT = POWERSHELL_SETUP_HINT;
const STOP_GRACE_MS = 3000;

interface Session {
  readonly shell: PinnedPowerShell;
  /** Settles when the process has exited, however it ended. */
  readonly exit: Promise<void>;
  exited: boolean;
  exitDetail?: string;
  connected: boolean;
  /** The process we started (PowerShell itself: findPowerShell never hands us a launcher it can see through). */
  readonly processId: number | undefined;
}

type Outcome =
  | { kind: 'output'; stdout: string; stderr: string }
  | { kind: 'timeout' }
  | { kind: 'exited'; detail: string };

export class PowerShellExchangeShell implements ExchangeShell {
  readonly #executable: string;
  readonly #launch: PowerShellLaunch;
  readonly #managedIdentityEnv: boolean;
  readonly #modulePath: string;
  readonly #callTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #startTimeoutMs: number;
  readonly #env: NodeJS.ProcessEnv;
  readonly #settings: SessionSettings;
  readonly #logger: Logger | undefined;
  readonly #onThrottle: ((events: ThrottleEvent[]) => void) | undefined;
  #session: Session | undefined;
  #processesStarted = 0;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: PowerShellExchangeShellOptions) {
    this.#executable = options.powerShell.executable;
    this.#launch = options.powerShell.launch;
    this.#managedIdentityEnv = options.exchangeAuth === 'managedIdentity';
    this.#modulePath = options.modulePath ?? path.join(__dirname, 'ExoActions.psm1');
    this.#callTimeoutMs = options.callTimeoutMs;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? Math.max(options.callTimeoutMs, 120_000);
    this.#startTimeoutMs = options.startTimeoutMs ?? Math.max(options.callTimeoutMs, 60_000);
    this.#env = options.env ?? process.env;
    this.#logger = options.logger;
    this.#onThrottle = options.onThrottle;
    this.#settings = options.settings ?? sessionSettingsFor(this.#launch);
  }

  /**
   * SIGKILL the running process now, synchronously (the worker is exiting: no session may outlive
   * it). Nothing else is cleaned up; the shell is not usable afterwards.
   */
  killNow(): void {
    const pid = this.#session?.processId;
    if (pid === undefined || this.#session?.exited) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  get processesStarted(): number {
    return this.#processesStarted;
  }

  runPlan(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    whatIf: boolean,
  ): Promise<ExchangeRunResult> {
    return this.#exclusive(() => this.#runPlan(plan, connection, whatIf));
  }

  look(plan: RunPlan, connection: () => Promise<ExchangeConnection>, dryRun: boolean): Promise<ExchangeLook> {
    return this.#exclusive(() => this.#look(plan, connection, dryRun));
  }

  apply(
    plan: RunPlan,
    lookId: string,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeApply> {
    return this.#exclusive(() => this.#apply(plan, lookId, connection));
  }

  undoLook(
    plan: UndoPlan,
    connection: () => Promise<ExchangeConnection>,
    dryRun: boolean,
  ): Promise<ExchangeUndoLook> {
    return this.#exclusive(async () => {
      const answer = await this.#call(
        { runId: plan.undoId },
        connection,
        'Get-ExoUndoLook',
        undoPayload(plan, dryRun),
        true,
      );
      if (!answer.ok) {
        return {
          steps: plan.steps.map((step) => ({ action: step.action, status: 'failed', detail: answer.reason })),
          cmdletCalls: 0,
          failure: answer.reason,
        };
      }
      return undoLookOf(plan, answer.value);
    });
  }

  undoApply(
    plan: UndoPlan,
    lookId: string,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeUndoApply> {
    return this.#exclusive(async () => {
      const answer = await this.#call(
        { runId: plan.undoId },
        connection,
        'Invoke-ExoUndoApply',
        { runId: plan.undoId, lookId },
        false,
      );
      if (!answer.ok) {
        return answer.refused
          ? { steps: [], cmdletCalls: 0, notApplied: answer.reason }
          : { steps: [], cmdletCalls: 0, unknown: answer.reason };
      }
      return undoAppliedOf(answer.value);
    });
  }

  probe(): Promise<ShellProbe> {
    return this.#exclusive(() => this.#probe());
  }

  close(): Promise<void> {
    return this.#exclusive(() => this.#close());
  }

  // One call at a time: session state (started, connected, killed) changes only between calls.
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work, work);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  async #runPlan(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    whatIf: boolean,
  ): Promise<ExchangeRunResult> {
    const answer = await this.#call(plan, connection, 'Invoke-ExoRunPlan', planPayload(plan, whatIf), false);
    if (!answer.ok) return failedRun(plan, answer.reason);
    const result = answer.value;
    const subjects = subjectsOf(result.subjects);
    const refusal =
      typeof result.refusal === 'string' && result.refusal !== '' ? redact(result.refusal, 1000) : '';
    return {
      actions: actionResults(plan, result.actions),
      cmdletCalls: typeof result.cmdletCalls === 'number' ? result.cmdletCalls : 0,
      ...(subjects ? { subjects } : {}),
      ...(refusal ? { refusal } : {}),
    };
  }

  async #look(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    dryRun: boolean,
  ): Promise<ExchangeLook> {
    const answer = await this.#call(plan, connection, 'Get-ExoRunLook', planPayload(plan, dryRun), true);
    if (!answer.ok) return failedRun(plan, answer.reason);
    return lookOf(plan, answer.value);
  }

  async #apply(
    plan: RunPlan,
    lookId: string,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeApply> {
    const answer = await this.#call(
      plan,
      connection,
      'Invoke-ExoRunApply',
      { runId: plan.runId, lookId },
      false,
    );
    if (!answer.ok) {
      // Refused before any change (the look is gone, not connected) versus no answer at all.
      return answer.refused
        ? { actions: [], cmdletCalls: 0, notApplied: answer.reason }
        : { actions: [], cmdletCalls: 0, unknown: answer.reason };
    }
    return appliedOf(answer.value);
  }

  /** One run call (plan, look or apply): connect on first need, then the answer or why there is none. */
  async #call(
    plan: Pick<RunPlan, 'runId'>,
    connection: () => Promise<ExchangeConnection>,
    command:
      | 'Invoke-ExoRunPlan'
      | 'Get-ExoRunLook'
      | 'Invoke-ExoRunApply'
      | 'Get-ExoUndoLook'
      | 'Invoke-ExoUndoApply',
    payload: Record<string, unknown>,
    readOnly: boolean,
  ): Promise<
    { ok: true; value: Record<string, unknown> } | { ok: false; reason: string; refused?: boolean }
  > {
    const session = await this.#ensureSession();
    if (!session.connected) await this.#connect(session, await connection());

    const outcome = await this.#invoke(session, command, this.#callTimeoutMs, payload);
    const unknown = readOnly
      ? 'it only looks up recipients, so nothing was changed'
      : 'what this run changed is unknown (state unknown)';

    if (outcome.kind === 'timeout') {
      this.#logger?.warn('Exchange run timed out; stopping PowerShell', {
        runId: plan.runId,
        timeoutMs: this.#callTimeoutMs,
      });
      await this.#stop(session, 'kill');
      return {
        ok: false,
        reason: `Exchange did not answer within ${seconds(this.#callTimeoutMs)}; the PowerShell session was stopped, so ${unknown}. The next run starts a new session.`,
      };
    }
    if (outcome.kind === 'exited') {
      this.#logger?.warn('PowerShell exited during an Exchange run', {
        runId: plan.runId,
        detail: outcome.detail,
      });
      await this.#stop(session, 'kill');
      return {
        ok: false,
        reason: `PowerShell exited during the run (${outcome.detail}), so ${unknown}. The next run starts a new session.`,
      };
    }

    this.#reportStderr(outcome.stderr, plan.runId);
    const parsed = parseResultLine(outcome.stdout);
    if (!parsed.ok) {
      this.#logger?.warn('PowerShell broke the one-JSON-line contract', {
        runId: plan.runId,
        problem: parsed.problem,
      });
      return {
        ok: false,
        reason: `PowerShell did not answer with exactly one JSON result line (${parsed.problem}); ${unknown}.`,
      };
    }
    this.#reportNoise(parsed.noise, plan.runId);
    const result = parsed.value;
    const throttle = throttleEventsOf(result.throttle);
    if (throttle.length > 0) this.#onThrottle?.(throttle);
    if (result.ok !== true) {
      const { code, message } = errorOf(result);
      if (code === 'NotConnected') session.connected = false;
      return { ok: false, reason: `ExoActions refused the run (${code}): ${message}`, refused: true };
    }
    return { ok: true, value: result };
  }

  async #probe(): Promise<ShellProbe> {
    const session = await this.#ensureSession();
    const outcome = await this.#invoke(session, 'Get-ExoProbe', this.#startTimeoutMs);
    if (outcome.kind !== 'output') {
      await this.#stop(session, 'kill');
      throw new ExchangeError(
        'PowerShellProbeFailed',
        `PowerShell (${this.#executable}) did not answer the probe: ${describeOutcome(outcome)}`,
        {
          setup: true,
          hint: SETUP_HINT,
        },
      );
    }
    const parsed = parseResultLine(outcome.stdout);
    if (!parsed.ok || parsed.value.ok !== true) {
      const problem = parsed.ok ? errorOf(parsed.value).message : parsed.problem;
      throw new ExchangeError(
        'PowerShellProbeFailed',
        `PowerShell (${this.#executable}) could not probe for the Exchange module: ${problem}`,
        {
          setup: true,
          hint: SETUP_HINT,
        },
      );
    }
    const value = parsed.value;
    const probe: ShellProbe = {
      executable: this.#executable,
      powerShellVersion: typeof value.powerShellVersion === 'string' ? value.powerShellVersion : 'unknown',
    };
    if (typeof value.exchangeModuleVersion === 'string')
      probe.exchangeModuleVersion = value.exchangeModuleVersion;
    if (typeof value.exchangeModulePath === 'string') probe.exchangeModulePath = value.exchangeModulePath;
    return probe;
  }

  async #close(): Promise<void> {
    const session = this.#session;
    if (!session) return;
    try {
      if (session.connected && !session.exited) {
        const outcome = await this.#invoke(
          session,
          'Disconnect-ExoSession',
          Math.min(this.#callTimeoutMs, 30_000),
        );
        const parsed = outcome.kind === 'output' ? parseResultLine(outcome.stdout) : undefined;
        if (!parsed?.ok || parsed.value.ok !== true) {
          this.#logger?.warn('Disconnect-ExchangeOnline did not confirm', {
            problem:
              parsed === undefined
                ? describeOutcome(outcome)
                : parsed.ok
                  ? errorOf(parsed.value).message
                  : parsed.problem,
          });
        }
        session.connected = false;
      }
    } catch (error) {
      this.#logger?.warn('Disconnecting from Exchange Online failed', { error: redact(String(error)) });
    } finally {
      await this.#stop(session, 'exit');
    }
  }

  async #ensureSession(): Promise<Session> {
    const current = this.#session;
    if (current && !current.exited) return current;
    if (current) await this.#stop(current, 'kill');

    const session = this.#spawn();
    this.#session = session;
    const outcome = await this.#invoke(
      session,
      `Import-Module -Name ${quotePowerShell(this.#modulePath)} -Force -ErrorAction Stop; Get-ExoStatus`,
      this.#startTimeoutMs,
    );
    const parsed = outcome.kind === 'output' ? parseResultLine(outcome.stdout) : undefined;
    if (outcome.kind !== 'output' || !parsed?.ok || parsed.value.ok !== true) {
      await this.#stop(session, 'kill');
      const problem =
        outcome.kind !== 'output'
          ? describeOutcome(outcome)
          : redact(outcome.stderr) || (parsed && !parsed.ok ? parsed.problem : 'no status line');
      throw new ExchangeError(
        'PowerShellStartFailed',
        `PowerShell (${this.#executable}) could not start with ${path.basename(this.#modulePath)}: ${problem}`,
        { setup: true, hint: SETUP_HINT },
      );
    }
    this.#logger?.info('PowerShell started', {
      executable: this.#executable,
      pid: session.processId,
      powerShellVersion: parsed.value.powerShellVersion,
      processesStarted: this.#processesStarted,
      settings: this.#settings.kind === 'file' ? this.#settings.path : this.#settings.reason,
    });
    return session;
  }

  #spawn(): Session {
    const shell = new PinnedPowerShell({
      executable: this.#launch.command,
      launchArguments: this.#launch.args,
      executableOptions: {
        '-NoProfile': true,
        '-NonInteractive': true,
        ...settingsArguments(this.#settings),
      },
      spawnOptions: { env: childEnvironment(this.#env, { managedIdentity: this.#managedIdentityEnv }) },
      throwOnInvocationError: false,
      invocationTimeout: 0,
      debug: false,
    });
    this.#processesStarted += 1;
    silenceDebugOutput(shell);
    // A write to a dead process's stdin raises EPIPE; without a listener that would crash Node.
    shell.streams.stdin.on('error', () => undefined);
    let markExited: () => void = () => undefined;
    const exit = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const session: Session = {
      shell,
      exit,
      exited: false,
      connected: false,
      processId: processOf(shell).pid,
    };
    // The process can die between calls (nobody awaiting it): observe its end here, which also keeps
    // node-powershell's rejected exit promise from surfacing as an unhandled rejection.
    exitPromiseOf(shell).then(
      () => {
        session.exited = true;
        markExited();
      },
      (error: unknown) => {
        session.exited = true;
        session.exitDetail = describeProcessError(error);
        markExited();
      },
    );
    return session;
  }

  async #connect(session: Session, connection: ExchangeConnection): Promise<void> {
    const outcome = await this.#invoke(
      session,
      'Connect-ExoSession',
      this.#connectTimeoutMs,
      connectPayload(connection),
    );
    if (outcome.kind !== 'output') {
      await this.#stop(session, 'kill');
      throw new ExchangeError(
        outcome.kind === 'timeout' ? 'ExchangeConnectTimeout' : 'ExchangeConnectFailed',
        outcome.kind === 'timeout'
          ? `Connecting to Exchange Online (${connection.organization}) did not finish within ${seconds(this.#connectTimeoutMs)}`
          : `PowerShell exited while connecting to Exchange Online (${describeOutcome(outcome)})`,
        {
          setup: true,
          hint: 'check that the machine can reach Exchange Online and Entra ID, then try again',
        },
      );
    }
    this.#reportStderr(outcome.stderr);
    const parsed = parseResultLine(outcome.stdout);
    if (!parsed.ok || parsed.value.ok !== true) {
      // The certificate's private key is in that process: do not keep it around after a failure.
      await this.#stop(session, 'kill');
      const { code, message } = parsed.ok
        ? errorOf(parsed.value)
        : { code: 'ConnectFailed', message: parsed.problem };
      throw new ExchangeError(
        connectErrorCode(code),
        `Could not connect to Exchange Online (${connection.organization}): ${message}`,
        {
          setup: true,
          hint: connectHint(code, message, connection),
        },
      );
    }
    this.#reportNoise(parsed.noise);
    session.connected = true;
    const warnings = Array.isArray(parsed.value.warnings)
      ? parsed.value.warnings.filter((w) => typeof w === 'string')
      : [];
    this.#logger?.info('Connected to Exchange Online', {
      organization: connection.organization,
      auth: connection.auth,
      thumbprint: parsed.value.thumbprint,
      exchangeModuleVersion: parsed.value.exchangeModuleVersion,
      ...(warnings.length > 0 ? { warnings } : {}),
    });
  }

  /**
   * One call with our own timeout; never throws. `command` is constant text; `data`, when given, is
   * sent as the next stdin line, which the called function reads itself (see exoProtocol.ts).
   */
  async #invoke(session: Session, command: string, timeoutMs: number, data?: unknown): Promise<Outcome> {
    if (session.exited)
      return { kind: 'exited', detail: session.exitDetail ?? 'the process had already exited' };
    const text = data === undefined ? command : `${command}\n${encodeDataLine(data)}`;
    const invocation: Promise<Outcome> = session.shell.invoke(text).then(
      (result) => ({
        kind: 'output',
        stdout:
          result.stdout === undefined ? (result.hadErrors ? '' : result.raw) : result.stdout.toString('utf8'),
        stderr:
          result.stderr === undefined ? (result.hadErrors ? result.raw : '') : result.stderr.toString('utf8'),
      }),
      (error: unknown) => ({ kind: 'exited', detail: describeProcessError(error) }),
    );
    try {
      const outcome = await within(invocation, timeoutMs);
      return outcome === TIMED_OUT ? { kind: 'timeout' } : outcome;
    } finally {
      // history holds every command (payloads included) and its output for the life of the process.
      session.shell.history.length = 0;
    }
  }

  /**
   * End the process and anything it started; never throws. `exit` asks PowerShell to leave on its own
   * (it then disposes the runspace and the connection), then SIGTERM and SIGKILL for one that lingers;
   * `kill` (a timed-out or broken session, or one that holds a key after a failed connect) goes
   * straight to SIGKILL. Children are listed before the process goes, because an orphan is re-parented
   * and could no longer be found.
   */
  async #stop(session: Session, how: 'exit' | 'kill'): Promise<void> {
    if (this.#session === session) this.#session = undefined;
    session.connected = false;
    const children = descendantPids(session.processId);
    if (how === 'exit' && !session.exited) {
      session.shell.streams.stdin.write('exit\n');
      await within(session.exit, STOP_GRACE_MS);
    }
    for (const signal of how === 'exit' ? (['SIGTERM', 'SIGKILL'] as const) : (['SIGKILL'] as const)) {
      if (session.exited) break;
      session.shell.dispose(signal).catch(() => undefined);
      await within(session.exit, STOP_GRACE_MS);
    }
    if (!session.exited)
      this.#logger?.warn('PowerShell did not exit after SIGKILL', { pid: session.processId });
    // Whatever it started and left behind (a launcher's dotnet child, a job) goes with it.
    killPids([...children, ...descendantPids(session.processId)], 'SIGKILL');
  }

  #reportStderr(stderr: string, runId?: string): void {
    const text = redact(stderr);
    if (text) this.#logger?.warn('PowerShell wrote to stderr', { ...(runId ? { runId } : {}), stderr: text });
  }

  #reportNoise(noise: string[], runId?: string): void {
    if (noise.length > 0) {
      this.#logger?.warn('PowerShell printed lines besides its JSON result', {
        ...(runId ? { runId } : {}),
        lines: noise.length,
        first: redact(noise[0] ?? '', 200),
      });
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Small helpers

const TIMED_OUT = Symbol('timed out');

/** The promise's value, or TIMED_OUT after `ms`; the timer never outlives the race. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A PowerShell single-quoted literal (for our own module path, never for run data). */
function quotePowerShell(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (quote) => quote + quote)}'`;
}

function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'timeout':
      return 'it did not answer in time';
    case 'exited':
      return outcome.detail;
    case 'output':
      return redact(outcome.stderr) || 'unexpected output';
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
