/**
 * The two phases through the real boundary (PowerShellExchangeShell -> pwsh -> ExoActions.psm1 ->
 * the stub module): a look changes nothing and returns each action's before-image and planned
 * changes; apply runs exactly those changes and returns the after-state; a look is used once, and a
 * look from another PowerShell process is refused with nothing changed.
 */
import type { ActionName, RunPlan } from '../../shared/ports';
import { createTestCertificate } from '../support/certificates';
import { newShell } from '../support/exchangeShellTesting';
import { ExchangeStubTenant } from '../support/exchangeStubTenant';

const cert = createTestCertificate({ keySize: 1024 });
const ACTIONS: ActionName[] = [
  'convertToShared',
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'removeFromDistributionGroups',
];
const CHANGES = new Set([
  'Set-Mailbox',
  'Add-MailboxPermission',
  'Add-RecipientPermission',
  'Remove-DistributionGroupMember',
]);

const plan = (): RunPlan => ({
  runId: '662a8c11f07ba0af9a25c860',
  mailbox: 'pat@contoso.com',
  manager: 'boss@contoso.com',
  actions: ACTIONS.map((name) => ({ name })),
  options: { autoMapping: false },
});

describe('look, then apply (real pwsh, stub module)', () => {
  let tenant: ExchangeStubTenant;
  beforeEach(() => {
    tenant = ExchangeStubTenant.create({
      certificate: cert,
      mailboxes: [
        { address: 'pat@contoso.com', displayName: 'Pat' },
        { address: 'boss@contoso.com', displayName: 'Boss' },
      ],
      groups: [
        { name: 'All Staff', members: ['pat@contoso.com'] },
        { name: 'Admins', type: 'MailUniversalSecurityGroup', members: ['pat@contoso.com'] },
      ],
    });
  });
  afterEach(() => tenant.dispose());

  it('looks without changing anything, then applies exactly the planned changes once', async () => {
    const shell = newShell(tenant);
    const connection = async () => tenant.certificateConnection(cert);
    try {
      const before = tenant.state();
      const look = await shell.look(plan(), connection, false);
      expect(tenant.calls().filter((c) => CHANGES.has(c.cmdlet))).toEqual([]);
      expect(tenant.state().mailboxes).toEqual(before.mailboxes);
      const pat = tenant.mailbox('pat@contoso.com').guid;
      const boss = tenant.mailbox('boss@contoso.com').guid;
      expect(look.lookId).toMatch(/^[0-9a-f-]{36}$/);
      expect(look.actions.map((a) => a.status)).toEqual(['planned', 'planned', 'planned', 'planned']);
      expect(look.actions[0]?.before).toEqual({ mailbox: pat, recipientTypeDetails: 'UserMailbox' });
      expect(look.actions[1]?.before).toEqual({
        mailbox: pat,
        trustee: boss,
        fullAccess: false,
        entries: [],
      });
      expect(look.actions[3]?.before).toMatchObject({
        member: pat,
        memberOf: expect.arrayContaining([
          expect.objectContaining({ displayName: 'All Staff', type: 'MailUniversalDistributionGroup' }),
          expect.objectContaining({ displayName: 'Admins', type: 'MailUniversalSecurityGroup' }),
        ]),
      });
      expect(look.actions[1]?.changes).toEqual([
        {
          cmdlet: 'Add-MailboxPermission',
          parameters: {
            Identity: pat,
            User: boss,
            AccessRights: 'FullAccess',
            InheritanceType: 'All',
            AutoMapping: false,
            Confirm: false,
          },
          line: expect.stringMatching(
            /^Add-MailboxPermission -Identity '[0-9a-f-]{36}' .* -AutoMapping \$false -Confirm:\$false$/,
          ),
        },
      ]);
      // The security group is left alone: only the distribution group is a planned change.
      expect(look.actions[3]?.changes?.map((c) => c.cmdlet)).toEqual(['Remove-DistributionGroupMember']);

      const applied = await shell.apply(plan(), look.lookId as string, connection);
      expect(applied.actions.map((a) => [a.name, a.status])).toEqual(ACTIONS.map((name) => [name, 'done']));
      expect(applied.actions[0]?.after).toEqual({ mailbox: pat, recipientTypeDetails: 'SharedMailbox' });
      expect(applied.actions[3]?.after).toMatchObject({
        removedFrom: [expect.any(String)],
        distributionGroups: [],
        observed: true,
      });
      const changes = tenant.calls().filter((c) => CHANGES.has(c.cmdlet));
      expect(changes.map((c) => c.cmdlet)).toEqual([
        'Set-Mailbox',
        'Add-MailboxPermission',
        'Add-RecipientPermission',
        'Remove-DistributionGroupMember',
      ]);
      expect(tenant.mailbox('pat@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
      expect(tenant.groupsOf('pat@contoso.com')).toEqual(['Admins']);

      // A look is applied once: a second apply is refused before any change.
      const again = await shell.apply(plan(), look.lookId as string, connection);
      expect(again.notApplied).toMatch(/LookNotFound/);
      expect(tenant.calls().filter((c) => CHANGES.has(c.cmdlet))).toHaveLength(4);
    } finally {
      await shell.close();
    }
  }, 120_000);

  it('keeps nothing for a dry run, and refuses a look from another PowerShell process', async () => {
    const connection = async () => tenant.certificateConnection(cert);
    const first = newShell(tenant);
    const second = newShell(tenant);
    try {
      const dry = await first.look(plan(), connection, true);
      expect(dry.lookId).toBeUndefined();
      expect(dry.actions.every((a) => a.status === 'planned')).toBe(true);
      const look = await first.look(plan(), connection, false);
      const elsewhere = await second.apply(plan(), look.lookId as string, connection);
      expect(elsewhere.notApplied).toMatch(/LookNotFound/);
      expect(tenant.calls().filter((c) => CHANGES.has(c.cmdlet))).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 120_000);
});
