/**
 * ExchangeShell over node-powershell: one long-lived PowerShell process per sweep, started on first
 * need, running our module ExoActions.psm1 (all PowerShell logic lives there). This is the only file
 * that imports node-powershell.
 *
 * The boundary, and why:
 * - Node sends only single-line calls whose data is base64 JSON (`Invoke-ExoRunPlan -Payload '<b64>'`).
 *   The base64 alphabet cannot leave a single-quoted literal, so no run data is ever parsed as code
 *   (node-powershell's own template "escaping" is not injection-safe).
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
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PowerShell, type PowerShellOptions } from 'node-powershell';
import { ExchangeError, type ExchangeCode } from '../errors';
import { EXCHANGE_MODULE_INSTALL } from '../exchangeModule';
import type { ExchangeShell, Logger } from '../ports';
import type {
  ActionApplied,
  ActionLook,
  ActionName,
  ActionResult,
  ActionStatus,
  ExchangeApply,
  ExchangeLook,
  JsonValue,
  PlannedChange,
  ExchangeConnection,
  ExchangeResolution,
  ExchangeRunResult,
  RecipientRef,
  RunPlan,
  RunSubjects,
  ShellProbe,
} from '../domain';
import { childEnvironment } from './childEnvironment';
import { encodeDataLine, parseResultLine } from './exoProtocol';
import { POWERSHELL_SETUP_HINT, type FoundPowerShell, type PowerShellLaunch } from './findPowerShell';
import { descendantPids, killPids } from './processTree';
import { isRecord } from '../guards';
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
}

const SETUP_HINT = POWERSHELL_SETUP_HINT;
const STATUSES: ReadonlySet<string> = new Set<ActionStatus>([
  'done',
  'already',
  'failed',
  'skipped',
  'planned',
]);
const STOP_GRACE_MS = 3000;

// node-powershell lets NODE_POWERSHELL override the executable it is given, and always puts its own
// `-NoLogo` first. findPowerShell already honoured NODE_POWERSHELL, and a launch such as
// `dotnet <pwsh.dll>` needs the dll before PowerShell's arguments, so this subclass runs exactly the
// launch it was handed.
class PinnedPowerShell extends PowerShell {
  constructor(options: PowerShellOptions & { launchArguments: string[] }) {
    super(options);
  }

  protected override setExecutable({ executable }: { executable?: string }): string {
    if (!executable) throw new Error('PowerShellExchangeShell needs an executable');
    return executable;
  }
}
prependLaunchArguments(PinnedPowerShell);

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

  resolveRun(plan: RunPlan, connection: () => Promise<ExchangeConnection>): Promise<ExchangeResolution> {
    return this.#exclusive(() => this.#resolveRun(plan, connection));
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

  async #resolveRun(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
  ): Promise<ExchangeResolution> {
    const answer = await this.#call(plan, connection, 'Resolve-ExoRun', planPayload(plan, true), true);
    if (!answer.ok) return { ok: false, reason: answer.reason, cmdletCalls: 0 };
    const result = answer.value;
    const cmdletCalls = typeof result.cmdletCalls === 'number' ? result.cmdletCalls : 0;
    if (typeof result.refusal === 'string' && result.refusal !== '') {
      return {
        ok: false,
        reason: redact(result.refusal, 1000),
        cmdletCalls,
        ...(result.refusalFinal === true ? { final: true } : {}),
      };
    }
    const subjects = subjectsOf(result.subjects);
    if (!subjects) return { ok: false, reason: 'ExoActions did not say who the run is about.', cmdletCalls };
    return { ok: true, subjects, cmdletCalls };
  }

  /** One run call (plan or resolution): connect on first need, then the answer or why there is none. */
  async #call(
    plan: RunPlan,
    connection: () => Promise<ExchangeConnection>,
    command: 'Invoke-ExoRunPlan' | 'Resolve-ExoRun' | 'Get-ExoRunLook' | 'Invoke-ExoRunApply',
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
    });
    return session;
  }

  #spawn(): Session {
    const shell = new PinnedPowerShell({
      executable: this.#launch.command,
      launchArguments: this.#launch.args,
      executableOptions: { '-NoProfile': true, '-NonInteractive': true },
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
// Payloads and results

function connectPayload(connection: ExchangeConnection): Record<string, unknown> {
  if (connection.auth === 'certificate') {
    const { certificate } = connection;
    return {
      organization: connection.organization,
      auth: 'certificate',
      appId: connection.appId,
      certificate: {
        format: certificate.format,
        data: certificate.material.reveal().toString('base64'),
        password: certificate.password.reveal(),
      },
    };
  }
  return {
    organization: connection.organization,
    auth: 'managedIdentity',
    ...(connection.managedIdentityAccountId ? { accountId: connection.managedIdentityAccountId } : {}),
  };
}

/** What Invoke-ExoRunPlan and Resolve-ExoRun read: the validated plan, the admin's policy, the pins. */
function planPayload(plan: RunPlan, whatIf: boolean): Record<string, unknown> {
  return {
    runId: plan.runId,
    mailbox: plan.mailbox,
    manager: plan.manager ?? null,
    actions: plan.actions.map((action) =>
      action.skipReason === undefined
        ? { name: action.name }
        : { name: action.name, skipReason: action.skipReason },
    ),
    // Every action's options for this run (rendered auto-reply, protocols, windows, hold); plain JSON.
    options: { ...plan.options },
    forwardTo: plan.forwardTo ?? null,
    delegate: plan.delegate ?? null,
    policy: {
      acceptSharedLeavers: plan.policy?.acceptSharedLeavers ?? false,
      protected: [...(plan.policy?.protectedRecipients ?? [])],
    },
    pinned: plan.pinned
      ? {
          leaver: { guid: plan.pinned.leaver.guid },
          manager: plan.pinned.manager ? { guid: plan.pinned.manager.guid } : null,
        }
      : null,
    whatIf,
  };
}

/** The leaver and manager as ExoActions reported them, or undefined when the answer has none. */
function subjectsOf(value: unknown): RunSubjects | undefined {
  if (!isRecord(value)) return undefined;
  const leaver = recipientOf(value.leaver);
  if (!leaver) return undefined;
  const manager = recipientOf(value.manager);
  return manager ? { leaver, manager } : { leaver };
}

function recipientOf(value: unknown): RecipientRef | undefined {
  if (!isRecord(value)) return undefined;
  const text = (key: string, max: number) => (typeof value[key] === 'string' ? redact(value[key], max) : '');
  const guid = text('guid', 40);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(guid)) return undefined;
  return {
    guid: guid.toLowerCase(),
    address: text('address', 254),
    displayName: text('displayName', 120),
    type: text('type', 60),
  };
}

function actionResults(plan: RunPlan, reported: unknown): ActionResult[] {
  const entries = Array.isArray(reported) ? reported.filter(isRecord) : [];
  return plan.actions.map((planned) => {
    const entry = entries.find((candidate) => candidate.name === planned.name);
    if (!entry)
      return {
        name: planned.name,
        status: 'failed',
        detail: 'PowerShell returned no result for this action.',
      };
    const known = typeof entry.status === 'string' && STATUSES.has(entry.status);
    const result: ActionResult = {
      name: planned.name,
      status: known ? (entry.status as ActionStatus) : 'failed',
    };
    const detail = known ? entry.detail : `PowerShell returned an unknown status for this action.`;
    if (typeof detail === 'string' && detail.length > 0) result.detail = detail;
    const cmdlets = strings(entry.cmdlets);
    if (cmdlets.length > 0) result.cmdlets = cmdlets;
    const warnings = strings(entry.warnings);
    if (warnings.length > 0) result.warnings = warnings;
    return result;
  });
}

/** The look's answer: per action status, detail, cmdlets, before-image and planned changes. */
function lookOf(plan: RunPlan, value: Record<string, unknown>): ExchangeLook {
  const entries = Array.isArray(value.actions) ? value.actions.filter(isRecord) : [];
  const actions: ActionLook[] = actionResults(plan, value.actions).map((result) => {
    const entry = entries.find((candidate) => candidate.name === result.name);
    const look: ActionLook = { ...result };
    if (entry && entry.before !== undefined && entry.before !== null) look.before = plainJson(entry.before);
    const changes = (Array.isArray(entry?.changes) ? entry.changes : [])
      .filter(isRecord)
      .map((change): PlannedChange => ({
        cmdlet: typeof change.cmdlet === 'string' ? change.cmdlet : '',
        parameters: isRecord(change.parameters)
          ? (plainJson(change.parameters) as Record<string, JsonValue>)
          : {},
        line: typeof change.line === 'string' ? change.line : '',
      }));
    if (changes.length > 0) look.changes = changes;
    return look;
  });
  const subjects = subjectsOf(value.subjects);
  const refusal =
    typeof value.refusal === 'string' && value.refusal !== '' ? redact(value.refusal, 1000) : '';
  return {
    actions,
    cmdletCalls: typeof value.cmdletCalls === 'number' ? value.cmdletCalls : 0,
    ...(subjects ? { subjects } : {}),
    ...(refusal ? { refusal, refusalFinal: value.refusalFinal === true } : {}),
    ...(typeof value.lookId === 'string' && /^[0-9a-f-]{36}$/i.test(value.lookId)
      ? { lookId: value.lookId }
      : {}),
  };
}

function appliedOf(value: Record<string, unknown>): ExchangeApply {
  const entries = Array.isArray(value.actions) ? value.actions.filter(isRecord) : [];
  const actions = entries.map((entry): ActionApplied => {
    const known = typeof entry.status === 'string' && STATUSES.has(entry.status);
    const applied: ActionApplied = {
      name: String(entry.name) as ActionName,
      status: known ? (entry.status as ActionStatus) : 'failed',
    };
    const detail = known ? entry.detail : 'PowerShell returned an unknown status for this action.';
    if (typeof detail === 'string' && detail.length > 0) applied.detail = detail;
    const cmdlets = strings(entry.cmdlets);
    if (cmdlets.length > 0) applied.cmdlets = cmdlets;
    const warnings = strings(entry.warnings);
    if (warnings.length > 0) applied.warnings = warnings;
    if (entry.after !== undefined && entry.after !== null) applied.after = plainJson(entry.after);
    return applied;
  });
  return { actions, cmdletCalls: typeof value.cmdletCalls === 'number' ? value.cmdletCalls : 0 };
}

/** A bounded, JSON-plain copy of what PowerShell sent (strings redacted like every other answer). */
function plainJson(value: unknown, depth = 0): JsonValue {
  if (depth > 12) return '[too deep]';
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return redact(value, 1000);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.slice(0, 5000).map((item) => plainJson(item, depth + 1));
  if (isRecord(value)) {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value).slice(0, 200))
      out[key.slice(0, 100)] = plainJson(item, depth + 1);
    return out;
  }
  return null;
}

/** Every action that was to run is failed with the reason; policy skips stay skipped. */
function failedRun(plan: RunPlan, reason: string): ExchangeRunResult {
  return {
    actions: plan.actions.map((action) =>
      action.skipReason === undefined
        ? { name: action.name, status: 'failed', detail: reason }
        : { name: action.name, status: 'skipped', detail: action.skipReason },
    ),
    cmdletCalls: 0,
  };
}

function errorOf(value: Record<string, unknown>): { code: string; message: string } {
  const error = isRecord(value.error) ? value.error : {};
  return {
    code: typeof error.code === 'string' ? error.code : 'Unknown',
    message: typeof error.message === 'string' ? redact(error.message, 1000) : 'no message',
  };
}

function connectErrorCode(code: string): ExchangeCode {
  switch (code) {
    case 'ExchangeModuleNotFound':
    case 'CertificateInvalid':
    case 'CertificateNoPrivateKey':
    case 'CertificateExpired':
      return code;
    case 'PayloadInvalid':
      return 'ExchangeConnectInvalid';
    default:
      return 'ExchangeConnectFailed';
  }
}

function connectHint(code: string, message: string, connection: ExchangeConnection): string {
  if (/AADSTS700027/.test(message)) {
    const thumbprint =
      connection.auth === 'certificate' ? ` (thumbprint ${connection.certificate.thumbprint})` : '';
    return `upload this certificate's public key${thumbprint} to the Entra app registration, or point the product at the certificate that is registered there`;
  }
  if (/AADSTS700016/.test(message))
    return 'check EXO_APP_ID: it must be the application (client) id of the Entra app registration in this tenant';
  if (/AADSTS90002/.test(message))
    return "check EXO_ORGANIZATION: use the tenant's primary .onmicrosoft.com domain";
  switch (code) {
    case 'ExchangeModuleNotFound':
      return `install the ExchangeOnlineManagement module where PSModulePath finds it, for the user running the app: ${EXCHANGE_MODULE_INSTALL}`;
    case 'CertificateNoPrivateKey':
      return 'use the certificate with its private key: a PFX (or PEM) that includes the key; in Key Vault, an exportable key';
    case 'CertificateInvalid':
      return 'check EXO_CERTIFICATE_PASSWORD and that the certificate is a PFX (PKCS#12) or a PEM holding certificate and key';
    case 'CertificateExpired':
      return 'renew the certificate and register the new one on the Entra app';
    case 'PayloadInvalid':
      return 'check EXO_ORGANIZATION (a domain such as contoso.onmicrosoft.com) and EXO_APP_ID (a GUID)';
  }
  return connection.auth === 'managedIdentity'
    ? 'check that the managed identity exists (AZURE_CLIENT_ID for a user-assigned one), has the Exchange.ManageAsApp permission and an Exchange administrator role'
    : 'check EXO_APP_ID, EXO_ORGANIZATION, that the certificate is registered on the app, and that the app has Exchange.ManageAsApp and an Exchange administrator role';
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

/**
 * Text from PowerShell or the process, made safe for logs and errors: long base64 runs (which could
 * only be a payload echoed back) are removed, control characters flattened, length bounded.
 */
function redact(text: string, max = 500): string {
  const cleaned = text
    // Hex runs (thumbprints) are kept: they identify a certificate without revealing it.
    .replace(/[A-Za-z0-9+/=]{40,}/g, (run) => (/^[0-9A-Fa-f]+$/.test(run) ? run : '[redacted]'))
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .trim();
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}

function describeProcessError(error: unknown): string {
  if (!isRecord(error)) return 'the process ended';
  const original = isRecord(error.originalError) ? error.originalError : undefined;
  const code = original && typeof original.code === 'string' ? original.code : undefined;
  if (code === 'ENOENT') return 'the executable was not found (ENOENT)';
  if (code === 'EACCES') return 'the executable is not executable (EACCES)';
  const parts: string[] = [];
  if (typeof error.exitCode === 'number') parts.push(`exit code ${error.exitCode}`);
  if (typeof error.signalCode === 'string') parts.push(`signal ${error.signalCode}`);
  if (parts.length === 0 && typeof error.message === 'string')
    parts.push(redact(error.message.split('\n')[0] ?? '', 200));
  return parts.join(', ') || 'the process ended';
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

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * node-powershell internals we depend on, pinned with the package version (5.0.1): its exit promise,
 * which rejects unobserved when the process dies between calls, and its `debug` loggers, which would
 * print every command (payloads included) when DEBUG matches.
 */
function exitPromiseOf(shell: PowerShell): Promise<unknown> {
  const exitPromise = (shell as unknown as { exitPromise?: Promise<unknown> }).exitPromise;
  if (!exitPromise) throw new Error('node-powershell changed: no exitPromise on the shell');
  return exitPromise;
}

function processOf(shell: PowerShell): ChildProcess {
  const child = (shell as unknown as { process?: ChildProcess }).process;
  if (!child) throw new Error('node-powershell changed: no process on the shell');
  return child;
}

/**
 * child-shell builds the argument list in `setExecutableOptions` (private in its types, called from its
 * constructor); ours puts the launch's own arguments (e.g. the pwsh.dll for `dotnet`) in front.
 */
function prependLaunchArguments(shellClass: typeof PowerShell): void {
  type BuildArguments = (options: { launchArguments?: string[] }) => string[];
  const prototype = shellClass.prototype as unknown as { setExecutableOptions: BuildArguments };
  const inherited = (Object.getPrototypeOf(prototype) as { setExecutableOptions?: BuildArguments })
    .setExecutableOptions;
  if (typeof inherited !== 'function') throw new Error('node-powershell changed: no setExecutableOptions');
  prototype.setExecutableOptions = function (this: unknown, options) {
    return [...(options.launchArguments ?? []), ...inherited.call(this, options)];
  };
}

function silenceDebugOutput(shell: PowerShell): void {
  const debuggers = (shell as unknown as { debuggers?: Record<string, { enabled: boolean }> }).debuggers;
  for (const logger of Object.values(debuggers ?? {})) logger.enabled = false;
}
