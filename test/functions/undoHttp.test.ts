/**
 * POST /api/runs/{runId}/undo in-process: a real InvocationContext and HttpRequest, the run
 * offboarded first through POST /api/runs/{runId}/rerun, the stub Exchange module in real PowerShell
 * and the journal in a local folder. The status codes come from the error mapping in errors.ts.
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import { rerunHttp } from '../../functions/sweepHttp';
import { undoHttp } from '../../functions/undoHttp';
import type { UndoReport } from '../../shared/undo/runUndo';
import { EndToEndWorld } from '../support/cliHarness';

const LEAVER = { name: 'Pat Leaver', email: 'pat@contoso.com', lineManager: { email: 'boss@contoso.com' } };

const context = (functionName: string) =>
  new InvocationContext({ invocationId: 'test', functionName, logHandler: () => undefined });

function post(route: string, runId: string, query = ''): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: `http://localhost:7071/api/${route}${query}`,
    params: { runId },
  });
}

describe('POST /api/runs/{runId}/undo', () => {
  let world: EndToEndWorld;
  const savedEnv = { ...process.env };
  beforeEach(async () => {
    world = await EndToEndWorld.create({
      mailboxes: [{ address: 'pat@contoso.com' }, { address: 'boss@contoso.com' }],
      groups: [{ name: 'All Staff', members: ['pat@contoso.com'] }],
    });
    const env = world.env({ AzureWebJobsStorage: '', SWEEP_MODE: 'inline' });
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
  });
  afterEach(async () => {
    process.env = { ...savedEnv };
    await world.dispose();
  });

  it('plans with dryRun=true, undoes, refuses an undo of the undo (409), an unknown run (404) and a bad id (400)', async () => {
    const runId = world.addWaitingRun(LEAVER);
    expect((await rerunHttp(post(`runs/${runId}/rerun`, runId), context('rerunHttp'))).status).toBe(200);

    const dry = await undoHttp(post(`runs/${runId}/undo`, runId, '?dryRun=true'), context('undoHttp'));
    expect(dry.status).toBe(200);
    const plan = dry.jsonBody as UndoReport;
    expect(plan).toMatchObject({ dryRun: true, outcome: 'planned', signalled: false });
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('SharedMailbox');

    const done = await undoHttp(post(`runs/${runId}/undo`, runId), context('undoHttp'));
    expect(done.status).toBe(200);
    expect((done.jsonBody as UndoReport).steps.map((s) => s.status)).toEqual([
      'done',
      'done',
      'done',
      'done',
    ]);
    expect(world.tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('UserMailbox');
    expect(world.tenant.groupsOf('pat@contoso.com')).toEqual(['All Staff']);

    const again = await undoHttp(post('x', `undo-${runId}`), context('undoHttp'));
    expect(again).toMatchObject({ status: 409, jsonBody: { title: 'UndoOfUndo' } });
    const unknown = await undoHttp(post('x', '0123456789abcdef01234567'), context('undoHttp'));
    expect(unknown).toMatchObject({ status: 404, jsonBody: { title: 'RunNotFound' } });
    expect((await undoHttp(post('x', 'not-a-run'), context('undoHttp'))).status).toBe(400);
    expect((await undoHttp(post('x', runId, '?force=yes'), context('undoHttp'))).status).toBe(400);
  }, 120_000);
});
