import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { parseProfiles } from '../../shared/profiles';

const BASE_ENV = {
  TRELICA_CLIENT_ID: 'id',
  TRELICA_CLIENT_SECRET: 'secret',
  EXO_ORGANIZATION: 'contoso.onmicrosoft.com',
  EXO_APP_ID: '6a1f3c2e-8d4b-4b7a-9c11-2f5e0d7a9b31',
  EXO_CERTIFICATE_PATH: '/tmp/app.pfx',
};
const EXAMPLE = path.join(__dirname, '..', '..', 'profiles', 'exo-profiles.example.json');

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (thrown) {
    if (thrown instanceof ConfigError) return thrown;
    throw thrown;
  }
  throw new Error('expected a ConfigError');
}

describe('the profile file', () => {
  it('reads the shipped example: every workflow with its actions in order, options and run variables', () => {
    const config = loadConfig({
      ...BASE_ENV,
      WORKFLOW_NAMES: 'Terminate Users,Contractor Exit',
      EXO_PROFILES_PATH: EXAMPLE,
    });
    const leavers = config.profiles['Terminate Users'];
    expect(leavers?.actions).toEqual([
      'hideFromAddressLists',
      'setAutoReply',
      'forwardToManager',
      'grantManagerFullAccess',
      'grantManagerSendAs',
      'grantManagerSendOnBehalf',
      'disableProtocols',
      'removeMobileDevices',
      'disableInboxRules',
      'cancelMeetings',
      'litigationHold',
      'convertToShared',
      'removeFromDistributionGroups',
    ]);
    expect(leavers?.options).toMatchObject({
      autoMapping: false,
      protocols: ['OWA', 'ActiveSync', 'POP', 'IMAP', 'EWS'],
      meetingWindowDays: 365,
      holdDurationDays: 2555,
      autoReply: { externalAudience: 'All' },
    });
    expect(leavers?.variables).toEqual({
      forwardTo: 'forward_mail_to',
      delegateTo: 'mailbox_delegate',
      autoReplyMessage: 'out_of_office_text',
      holdDays: 'hold_days',
      leavingDate: 'leaving_date',
    });
    expect(config.profiles['Contractor Exit']?.options).toMatchObject({
      protocols: ['OWA', 'ActiveSync', 'EWS'],
      inboxRuleScope: 'all',
      autoMapping: true,
    });
    expect(config.profilesPath).toBe(EXAMPLE);
  });

  it('reports every mistake at once, each with its JSON path, together with bad settings', () => {
    const file = {
      profiles: {
        'Terminate Users': {
          actions: [
            'convertToShared',
            'wipeDevice',
            { name: 'setAutoReply', internalMessage: 'Bye {leaver.nickname}', audience: 'All' },
            { name: 'disableProtocols', protocols: ['OWA', 'Telnet'] },
            { name: 'cancelMeetings', queryWindowInDays: 5000 },
            { name: 'litigationHold', durationDays: 1.5 },
            'convertToShared',
          ],
          variables: { forwardTo: 'forward_to', holdDays: 'hold days' },
        },
      },
      extra: true,
    };
    const error = configError(() =>
      loadConfig(
        {
          ...BASE_ENV,
          EXO_AUTOMAPPING: 'maybe',
          WORKFLOW_NAMES: 'Terminate Users,Contractor Exit',
          EXO_PROFILES_PATH: 'p.json',
        },
        { readFile: () => JSON.stringify(file) },
      ),
    );
    const problems = error.problems.map((p) => p.replace('EXO_PROFILES_PATH p.json ', ''));
    expect(problems).toEqual(
      expect.arrayContaining([
        'EXO_AUTOMAPPING must be true or false (got "maybe")',
        '$: unknown option "extra"',
        '$.profiles["Terminate Users"].variables.holdDays: must be a SaaS Manager variable name (letters, digits, _ . -, at most 64)',
        expect.stringMatching(
          /^\$\.profiles\["Terminate Users"\]\.actions\[1\]: unknown action "wipeDevice"/,
        ),
        '$.profiles["Terminate Users"].actions[2]: unknown option "audience"',
        '$.profiles["Terminate Users"].actions[6]: lists convertToShared twice',
        '$.profiles["Terminate Users"].variables.forwardTo: overrides forwardToManager, which this profile does not run',
        '$.profiles: has no profile for the workflow "Contractor Exit" named in WORKFLOW_NAMES',
      ]),
    );
    expect(problems).toHaveLength(12);
  });

  it('lists every action problem of a well-formed file in one go', () => {
    const result = parseProfiles(
      {
        profiles: {
          'Terminate Users': {
            actions: [
              'convertToShared',
              'wipeDevice',
              { name: 'setAutoReply', internalMessage: 'Bye {leaver.nickname}', audience: 'All' },
              { name: 'disableProtocols', protocols: ['OWA', 'Telnet'] },
              { name: 'cancelMeetings', queryWindowInDays: 5000 },
              { name: 'litigationHold', durationDays: 1.5 },
              'convertToShared',
              42,
            ],
            variables: { forwardTo: 'forward_to' },
          },
        },
      },
      { source: 'p.json', workflowNames: ['Terminate Users', 'Contractor Exit'], autoMapping: true },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      expect.stringMatching(
        /^\$\.profiles\["Terminate Users"\]\.actions\[1\]: unknown action "wipeDevice" \(known: convertToShared, /,
      ),
      '$.profiles["Terminate Users"].actions[2].internalMessage: uses the unknown placeholder {leaver.nickname} (known: {leaver.name}, {leaver.firstName}, {manager.name}, {manager.email}, {leavingDate})',
      '$.profiles["Terminate Users"].actions[2]: unknown option "audience"',
      '$.profiles["Terminate Users"].actions[3].protocols[1]: must be one of OWA, ActiveSync, POP, IMAP, EWS',
      '$.profiles["Terminate Users"].actions[4].queryWindowInDays: must be a whole number of days from 1 to 1825',
      '$.profiles["Terminate Users"].actions[5].durationDays: must be a whole number of days from 1 to 36500',
      '$.profiles["Terminate Users"].actions[6]: lists convertToShared twice',
      '$.profiles["Terminate Users"].actions[7]: must be an action name or an object with "name"',
      '$.profiles["Terminate Users"].variables.forwardTo: overrides forwardToManager, which this profile does not run',
      '$.profiles: has no profile for the workflow "Contractor Exit" named in WORKFLOW_NAMES',
    ]);
  });

  it('reads delegationDays (expiring delegation) and says which profile has a wrong one', () => {
    const settings = { source: 'p.json', workflowNames: ['Leavers'], autoMapping: true };
    const good = parseProfiles(
      { profiles: { Leavers: { delegationDays: 90, actions: ['grantManagerFullAccess'] } } },
      settings,
    );
    expect(good.ok && good.profiles.Leavers?.delegationDays).toBe(90);
    const none = parseProfiles({ profiles: { Leavers: { actions: ['grantManagerFullAccess'] } } }, settings);
    expect(none.ok && none.profiles.Leavers).not.toHaveProperty('delegationDays');
    for (const wrong of [0, 3651, 1.5, '90']) {
      const result = parseProfiles(
        { profiles: { Leavers: { delegationDays: wrong, actions: ['grantManagerFullAccess'] } } },
        settings,
      );
      expect(result).toEqual({
        ok: false,
        problems: ['$.profiles.Leavers.delegationDays: must be a whole number of days from 1 to 3650'],
      });
    }
  });

  it('names an unreadable or broken file', () => {
    const missing = configError(() =>
      loadConfig({ ...BASE_ENV, EXO_PROFILES_PATH: '/nonexistent/profiles.json' }),
    );
    expect(missing.problems).toEqual([
      'EXO_PROFILES_PATH cannot be read (ENOENT) (got "/nonexistent/profiles.json"); set it to the profile file\'s path (see the README: Profiles)',
    ]);
    const broken = configError(() =>
      loadConfig({ ...BASE_ENV, EXO_PROFILES_PATH: 'p.json' }, { readFile: () => '{ "profiles": ' }),
    );
    expect(broken.problems[0]).toMatch(/^EXO_PROFILES_PATH p\.json is not valid JSON: /);
  });

  it('without a file, EXO_ACTIONS is every workflow profile and may name catalogue actions', () => {
    const config = loadConfig({
      ...BASE_ENV,
      WORKFLOW_NAMES: 'A,B',
      EXO_ACTIONS: 'litigationHold,setAutoReply,convertToShared,disableProtocols',
      EXO_AUTOMAPPING: 'false',
    });
    for (const name of ['A', 'B']) {
      expect(config.profiles[name]).toEqual({
        source: 'EXO_ACTIONS',
        actions: ['convertToShared', 'setAutoReply', 'disableProtocols', 'litigationHold'],
        options: {
          autoMapping: false,
          autoReply: { externalAudience: 'All' },
          deliverToMailboxAndForward: true,
          protocols: ['OWA', 'ActiveSync', 'POP', 'IMAP'],
          inboxRuleScope: 'forwardingOrDeleting',
          meetingWindowDays: 365,
        },
        variables: {},
      });
    }
    const bad = configError(() => loadConfig({ ...BASE_ENV, EXO_ACTIONS: 'convertToShared,wipeDevice' }));
    expect(bad.problems[0]).toMatch(
      /^EXO_ACTIONS entry 2 \(got "wipeDevice"\) is not valid: must be one of .*litigationHold/,
    );
  });

  it('is valid JSON that prettier and the schema accept as shipped', () => {
    expect(() => JSON.parse(readFileSync(EXAMPLE, 'utf8')) as unknown).not.toThrow();
  });
});
