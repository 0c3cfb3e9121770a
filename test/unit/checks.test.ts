import { runChecks } from '../../shared/check/runChecks';
import { BASIC_ACTIONS } from '../../shared/config';
import { EXCHANGE_MODULE_INSTALL } from '../../shared/exchangeModule';
import type { ShellProbe } from '../../shared/domain';
import { FakeCertificateSource, FakeExchangeShell, FakeWorkflowApi } from '../support/fakes';

describe('check', () => {
  it('tells how to install a missing Exchange module with the one documented instruction', async () => {
    const exchange = new FakeExchangeShell();
    exchange.probe = async (): Promise<ShellProbe> => ({
      executable: '/usr/bin/pwsh',
      powerShellVersion: '7.6.9',
    });
    const results = await runChecks(
      {
        workflowApi: new FakeWorkflowApi(),
        certificates: new FakeCertificateSource(),
        exchange,
        now: () => new Date(),
      },
      {
        workflowNames: ['Terminate Users'],
        stepName: 'Signal',
        actionName: 'Continue',
        actions: BASIC_ACTIONS,
        autoMapping: true,
        exchange: { auth: 'managedIdentity', organization: 'contoso.onmicrosoft.com' },
      },
    );
    const module = results.find((r) => r.name === 'PowerShell and Exchange module');
    expect(module).toMatchObject({
      ok: false,
      hint: `install it for the user running the app: ${EXCHANGE_MODULE_INSTALL}`,
    });
  });
});
