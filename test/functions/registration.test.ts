/**
 * What the Functions host would receive: load the compiled entry point (package.json "main") with
 * the real @azure/functions library, in a separate Node process whose "@azure/functions-core" is a
 * recording stand-in, and check function names, triggers, schedule, routes, methods and auth.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

interface Binding {
  type: string;
  direction: string;
  schedule?: string;
  route?: string;
  methods?: string[];
  authLevel?: string;
  runOnStartup?: boolean;
}
interface Registration {
  metadata: { name: string; bindings: Record<string, Binding> };
  handlerType: string;
}

function loadEntryPoint(settings: NodeJS.ProcessEnv = {}): {
  programmingModel: { name: string };
  registrations: Registration[];
} {
  const { main } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string };
  if (!existsSync(join(root, 'dist', 'functions'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it through pretest)');
  }
  const script = `
    // package.json "main" is "<folder>/<pattern with *>", as the Functions host reads it.
    const path = require('node:path'), fs = require('node:fs');
    const main = path.join(${JSON.stringify(root)}, ${JSON.stringify(main)});
    const pattern = new RegExp('^' + path.basename(main).replace(/[.]/g, '\\.').replace(/[*]/g, '.*') + '$');
    for (const file of fs.readdirSync(path.dirname(main)).filter((f) => pattern.test(f)).sort()) require(path.join(path.dirname(main), file));
    process.stdout.write(JSON.stringify(require('@azure/functions-core').__recorded()));
  `;
  const output = execFileSync(process.execPath, ['-e', script], {
    cwd: root,
    env: {
      ...process.env,
      VERIFY_SCHEDULE: '',
      ...settings,
      NODE_PATH: join(root, 'test', 'support', 'functionsHost'),
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(output) as ReturnType<typeof loadEntryPoint>;
}

describe('function registration (compiled entry point)', () => {
  const recorded = loadEntryPoint();
  const byName = new Map(recorded.registrations.map((r) => [r.metadata.name, r]));
  const trigger = (name: string): Binding => {
    const registration = byName.get(name);
    if (!registration) throw new Error(`function ${name} was not registered`);
    const bindings = Object.values(registration.metadata.bindings).filter((b) => b.direction === 'in');
    return bindings[0] as Binding;
  };

  it('registers exactly the seven functions with the v4 programming model (VERIFY_SCHEDULE unset)', () => {
    expect(recorded.programmingModel.name).toBe('@azure/functions');
    expect([...byName.keys()].sort()).toEqual([
      'processRun',
      'rerunHttp',
      'runHistoryHttp',
      'runPoisoned',
      'sweepHttp',
      'sweepTimer',
      'undoHttp',
    ]);
    for (const registration of recorded.registrations) expect(registration.handlerType).toBe('function');
  });

  it('registers the verify timer only when VERIFY_SCHEDULE is set, scheduled from it, never on startup', () => {
    expect(byName.has('verifyTimer')).toBe(false);
    const scheduled = loadEntryPoint({ VERIFY_SCHEDULE: '0 30 5 * * *' });
    const names = scheduled.registrations.map((r) => r.metadata.name);
    expect(names.sort()).toEqual([...byName.keys(), 'verifyTimer'].sort());
    const verify = scheduled.registrations.find((r) => r.metadata.name === 'verifyTimer');
    const binding = Object.values(verify?.metadata.bindings ?? {}).find((b) => b.direction === 'in');
    expect(binding).toMatchObject({
      type: 'timerTrigger',
      schedule: '%VERIFY_SCHEDULE%',
      runOnStartup: false,
    });
  });

  it('exposes GET runs/{runId} (the run journal) behind a function key', () => {
    expect(trigger('runHistoryHttp')).toMatchObject({
      type: 'httpTrigger',
      route: 'runs/{runId}',
      methods: ['GET'],
      authLevel: 'function',
    });
  });

  it('exposes POST runs/{runId}/undo behind a function key', () => {
    expect(trigger('undoHttp')).toMatchObject({
      type: 'httpTrigger',
      route: 'runs/{runId}/undo',
      methods: ['POST'],
      authLevel: 'function',
    });
  });

  it('schedules the timer from the SWEEP_SCHEDULE app setting and never on startup', () => {
    expect(trigger('sweepTimer')).toMatchObject({
      type: 'timerTrigger',
      schedule: '%SWEEP_SCHEDULE%',
      runOnStartup: false,
    });
  });

  it('takes queued runs from exo-runs and poisoned ones from exo-runs-poison, on the app storage account', () => {
    expect(trigger('processRun')).toMatchObject({
      type: 'queueTrigger',
      queueName: 'exo-runs',
      connection: 'AzureWebJobsStorage',
    });
    expect(trigger('runPoisoned')).toMatchObject({
      type: 'queueTrigger',
      queueName: 'exo-runs-poison',
      connection: 'AzureWebJobsStorage',
    });
  });

  it('exposes POST sweep and POST runs/{runId}/rerun behind function keys', () => {
    expect(trigger('sweepHttp')).toMatchObject({
      type: 'httpTrigger',
      route: 'sweep',
      methods: ['POST'],
      authLevel: 'function',
    });
    expect(trigger('rerunHttp')).toMatchObject({
      type: 'httpTrigger',
      route: 'runs/{runId}/rerun',
      methods: ['POST'],
      authLevel: 'function',
    });
  });

  it('has no anonymous HTTP function', () => {
    const http = recorded.registrations
      .flatMap((r) => Object.values(r.metadata.bindings))
      .filter((b) => b.type === 'httpTrigger');
    expect(http.length).toBeGreaterThan(0);
    for (const binding of http) expect(binding.authLevel).not.toBe('anonymous');
  });
});
