/**
 * The PowerShell boundary's payloads and result parsing, without a PowerShell process: what Node
 * sends carries no secret outside the connect payload, and whatever ExoActions answers (missing,
 * malformed or hostile) becomes a result that can only fail the action, never pass it.
 */
import { inspect } from 'node:util';
import type { ExchangeConnection, RunPlan } from '../../shared/domain';
import {
  actionResults,
  connectPayload,
  errorOf,
  planPayload,
  redact,
} from '../../shared/exchange/exoResults';
import { Secret } from '../../shared/secret';

const plan: RunPlan = {
  runId: '665000000000000000000001',
  mailbox: 'leaver@contoso.com',
  manager: 'boss@contoso.com',
  actions: [{ name: 'convertToShared' }, { name: 'grantManagerFullAccess' }, { name: 'grantManagerSendAs' }],
  options: { autoMapping: true },
};

describe('exoResults', () => {
  test('an action PowerShell did not report, or reported with an unknown status, fails', () => {
    const results = actionResults(plan, [
      { name: 'convertToShared', status: 'done', detail: 'Converted.', cmdlets: ['Set-Mailbox -Identity x'] },
      { name: 'grantManagerFullAccess', status: 'succeeded-ish', detail: 'trust me' },
      { name: 'notPlanned', status: 'done' },
      'not an object',
    ]);
    expect(results).toEqual([
      { name: 'convertToShared', status: 'done', detail: 'Converted.', cmdlets: ['Set-Mailbox -Identity x'] },
      {
        name: 'grantManagerFullAccess',
        status: 'failed',
        detail: 'PowerShell returned an unknown status for this action.',
      },
      {
        name: 'grantManagerSendAs',
        status: 'failed',
        detail: 'PowerShell returned no result for this action.',
      },
    ]);
    expect(actionResults(plan, 'garbage').every((result) => result.status === 'failed')).toBe(true);
  });

  test('an error answer keeps a code and a message, and long base64 never reaches a message', () => {
    expect(errorOf({ error: { code: 'NotConnected', message: 'no session' } })).toEqual({
      code: 'NotConnected',
      message: 'no session',
    });
    expect(errorOf({})).toMatchObject({ code: 'Unknown' });
    const echoed = `failed for ${'QUJD'.repeat(40)} at thumbprint ${'A1'.repeat(20)}`;
    expect(redact(echoed)).toBe(`failed for [redacted] at thumbprint ${'A1'.repeat(20)}`);
  });

  test('the plan payload carries the run, never a certificate; the connect payload is the only one that does', () => {
    const connection: ExchangeConnection = {
      auth: 'certificate',
      organization: 'contoso.onmicrosoft.com',
      appId: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
      certificate: {
        format: 'pfx',
        material: new Secret(Buffer.from('pfx-bytes-secret')),
        password: new Secret('pfx-password-secret'),
        thumbprint: 'F'.repeat(40),
        notBefore: new Date(0),
        expiresOn: new Date(0),
        source: 'test',
      },
    };
    const run = JSON.stringify(planPayload(plan, false));
    expect(run).toContain('leaver@contoso.com');
    expect(run).not.toMatch(/secret|pfx/i);
    const connect = connectPayload(connection);
    expect(JSON.stringify(connect)).toContain(Buffer.from('pfx-bytes-secret').toString('base64'));
    // The payload is built for the data line only; the connection itself still hides its secrets.
    expect(inspect(connection, { depth: 5 })).not.toMatch(/pfx-bytes-secret|pfx-password-secret/);
  });
});
